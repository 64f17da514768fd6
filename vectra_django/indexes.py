"""Index types for ``Meta.indexes`` on vector columns, and the extension migration.

pgvector-python's own classes, re-exported so models import everything from one place::

    class Meta:
        indexes = [HnswIndex(name="doc_embedding_hnsw", fields=["embedding"], m=16,
                             ef_construction=64, opclasses=[opclass("cosine")])]
"""

from __future__ import annotations

from pgvector.django import HnswIndex, IvfflatIndex, VectorExtension

OPCLASSES = {
    "cosine": "vector_cosine_ops",
    "euclidean": "vector_l2_ops",
    "dotproduct": "vector_ip_ops",
}


def opclass(metric: str) -> str:
    """The operator class an HNSW/IVFFlat index needs to serve ``metric`` searches."""
    return OPCLASSES[metric]


__all__ = ["OPCLASSES", "HnswIndex", "IvfflatIndex", "VectorExtension", "opclass"]
