"""Opening a ``QdrantClient`` from the provider's settings."""

from __future__ import annotations

import math
from typing import Any

from ... import errors
from .errors import map_errors


def open_client(
    *,
    url: str | None,
    api_key: str | None,
    path: str | None,
    location: str | None,
    host: str | None,
    port: int | None,
    timeout: float | None,
    prefer_grpc: bool,
) -> Any:
    """A client for a server (``url``/``host``) or the in-process store (``path`` or
    ``location=":memory:"``); a missing qdrant-client is a ``ConfigurationError``."""
    try:
        from qdrant_client import QdrantClient
    except ImportError as exc:
        raise errors.ConfigurationError(
            "The qdrant provider needs qdrant-client: pip install qdrant-client (the qdrant extra)."
        ) from exc
    kwargs: dict[str, Any] = {
        "url": url,
        "api_key": api_key,
        "path": path,
        "location": location,
        "host": host,
        "port": port if port is not None else 6333,
        "prefer_grpc": prefer_grpc,
    }
    if timeout is not None:
        kwargs["timeout"] = max(1, math.ceil(float(timeout)))
    if path:
        # Its SQLite file is then shared by threads, one at a time (the provider's lock).
        kwargs["force_disable_check_same_thread"] = True
    with map_errors(api_key):
        return QdrantClient(**{k: v for k, v in kwargs.items() if v is not None})
