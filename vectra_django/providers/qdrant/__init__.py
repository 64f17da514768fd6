"""The Qdrant provider: qdrant-client (remote or local mode), its filters and error mapping."""

from __future__ import annotations

from .provider import QdrantProvider

__all__ = ["QdrantProvider"]
