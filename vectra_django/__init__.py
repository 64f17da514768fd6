"""Vector search for Django models, over pgvector, Pinecone, Qdrant or memory.

The client side (``Client``, ``clients``, the types and ``on_operation``) imports without the
app registry; ``VectorField`` and ``VectorMixin`` load on first access, once Django's apps
are ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .client import Client, Match, QueryResult, Vector, clients
from .instrumentation import on_operation

if TYPE_CHECKING:
    from .db.fields import VectorField
    from .db.mixins import VectorMixin

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Match",
    "QueryResult",
    "Vector",
    "VectorField",
    "VectorMixin",
    "clients",
    "on_operation",
]

# TextSearchColumn is what migrations of ``VectorField(text_search=...)`` name.
_LAZY = {"VectorField": "db.fields", "VectorMixin": "db.mixins", "TextSearchColumn": "db.text"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
