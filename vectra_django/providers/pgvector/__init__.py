"""The pgvector provider: one table per index, with its SQL, connections and error mapping."""

from __future__ import annotations

from .provider import PgvectorProvider

__all__ = ["PgvectorProvider"]
