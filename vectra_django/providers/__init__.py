"""Vector store providers, one module or package each, all behind :class:`~.base.Provider`."""

from __future__ import annotations

from django.utils.module_loading import import_string

from ..client.requests import IdPage, QueryRequest
from ..errors import ConfigurationError
from .base import BaseProvider, Provider

BUILTIN = {
    "memory": "vectra_django.providers.memory.MemoryProvider",
    "pgvector": "vectra_django.providers.pgvector.PgvectorProvider",
    "pinecone": "vectra_django.providers.pinecone.PineconeProvider",
    "qdrant": "vectra_django.providers.qdrant.QdrantProvider",
}


def load(name: str) -> type[Provider]:
    """The provider class for a short name (``"pgvector"``) or a dotted path."""
    path = BUILTIN.get(name, name)
    if "." not in path:
        raise ConfigurationError(
            f"Unknown provider {name!r}; expected one of {sorted(BUILTIN)} or a dotted path."
        )
    try:
        return import_string(path)  # type: ignore[no-any-return]
    except ImportError as exc:
        raise ConfigurationError(f"Cannot import provider {name!r}: {exc}") from exc


__all__ = ["BUILTIN", "BaseProvider", "IdPage", "Provider", "QueryRequest", "load"]
