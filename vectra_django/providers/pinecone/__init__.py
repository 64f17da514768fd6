"""The Pinecone provider: the official SDK, its filter compiler and error mapping."""

from __future__ import annotations

from .provider import PineconeProvider

__all__ = ["PineconeProvider"]
