"""The three ways to search the documents, shared by the search page and the demo.

- **vector**: nearest embeddings (cosine similarity); ranks by the words or meaning the
  embedder knows, never needs an exact match.
- **keyword**: PostgreSQL full-text search over the title and content; every word must
  occur, and a dotted name such as ``json.dumps`` is one exact token.
- **hybrid**: both rankings fused by Reciprocal Rank Fusion; a document found by both legs
  rises above one found by either alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models

from .embedding import document_embedder
from .models import Document


class Mode(models.TextChoices):
    HYBRID = "hybrid", "Hybrid"
    VECTOR = "vector", "Vector"
    KEYWORD = "keyword", "Keyword"


DEFAULT_MODE = Mode.HYBRID
# Each leg's weight and the fusion constant, as ``hybrid_search`` uses them by default.
HYBRID_WEIGHTS = (1.0, 1.0)
RRF_K = 60
# The best fused score a document can get: first in both legs.
HYBRID_MAX = sum(HYBRID_WEIGHTS) / (RRF_K + 1)


class NoSearchableWords(ValueError):
    """The embedder found nothing to embed (only stop words or punctuation)."""


@dataclass(frozen=True)
class Search:
    """One search as the page or the demo asks for it."""

    text: str
    mode: Mode = DEFAULT_MODE
    limit: int = 10
    filter: dict[str, Any] | None = None
    threshold: float | None = None  # vector mode only: fused and keyword scores differ

    @property
    def ignores_threshold(self) -> bool:
        return self.threshold is not None and self.mode != Mode.VECTOR


def run(search: Search) -> list[Document]:
    """The documents that match, best first, with the scores of ``search.mode``.

    Raises :class:`NoSearchableWords`, or ``vectra_django.errors.ValidationError`` for text
    the search cannot take.
    """
    # The filter is portable: it works the same if VECTRA points to Qdrant or Pinecone.
    if search.mode == Mode.KEYWORD:
        found = Document.objects.text_search(search.text, limit=search.limit, filter=search.filter)
    elif search.mode == Mode.HYBRID:
        found = Document.objects.hybrid_search(
            search.text,
            limit=search.limit,
            filter=search.filter,
            weights=HYBRID_WEIGHTS,
            rrf_k=RRF_K,
        )
    else:
        vector = document_embedder().embed_one(search.text)
        if not vector.any():
            raise NoSearchableWords(search.text)
        found = Document.objects.vector_search(
            vector, limit=search.limit, filter=search.filter, score_threshold=search.threshold
        )
    return list(found)


def score(document: Document, mode: Mode) -> float:
    """The score ``mode`` ranks by."""
    if mode == Mode.KEYWORD:
        return document.text_score
    if mode == Mode.HYBRID:
        return document.hybrid_score
    return document.vector_score
