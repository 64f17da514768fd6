"""Records' text on Pinecone: kept in metadata, and why keyword search is refused.

Pinecone has no place of its own for a document's text in a dense index, so the text rides
in the record's metadata under :data:`TEXT_KEY`: :mod:`.records` counts it towards the
40 KB limit and refuses the key in user metadata, :mod:`.filters` refuses it as a filter key,
and :func:`split_text` takes it out of every metadata returned.

Ranking by words would take sparse-dense vectors on a dotproduct index (or a second, sparse
index); this provider builds neither, so ``text_search`` and ``hybrid_search`` say so
instead of answering with a vector search.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...client.requests import TextRequest
from ...client.results import QueryResult
from ...errors import UnsupportedFeatureError

TEXT_KEY = "_vectra_text"
NO_KEYWORDS = (
    "{operation} (keyword search over the records' text): Pinecone ranks keywords only with "
    "sparse-dense vectors on a dotproduct index, which this provider does not build. Records "
    "keep their text (fetch returns it); search words on a pgvector, qdrant or memory index"
)


def with_text(metadata: Mapping[str, Any], text: str | None) -> dict[str, Any]:
    """The metadata Pinecone stores: the user's, plus the text under :data:`TEXT_KEY`."""
    return dict(metadata) if text is None else {**metadata, TEXT_KEY: text}


def split_text(stored: Mapping[str, Any] | None) -> tuple[dict[str, Any], str | None]:
    """Stored metadata as the user's metadata and the record's text."""
    metadata = dict(stored or {})
    text = metadata.pop(TEXT_KEY, None)
    return metadata, text if isinstance(text, str) else None


class NoKeywordSearch:
    """Refuses ``text_search`` and ``hybrid_search``, naming what they would need."""

    searches_text = False

    def text_search(self, index: str, request: TextRequest) -> QueryResult:
        raise UnsupportedFeatureError("pinecone", NO_KEYWORDS.format(operation="text_search"))

    def hybrid_search(self, index: str, request: TextRequest) -> QueryResult:
        raise UnsupportedFeatureError("pinecone", NO_KEYWORDS.format(operation="hybrid_search"))
