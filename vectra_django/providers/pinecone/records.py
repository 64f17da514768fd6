"""Pinecone's limits, upsert records shaped and checked before anything is sent, and scores.

A record's text travels in its metadata (:mod:`.text`), so the 40 KB limit counts it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ... import errors
from ...client.validation import Batch
from .text import TEXT_KEY, with_text

DENSE_FIELD = "_values"  # the schema field Pinecone's vector API reads and writes
DEFAULT_NAMESPACE_ALIAS = "__default__"
MAX_VECTORS_PER_REQUEST = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40 * 1024
MAX_ID_LENGTH = 512
MAX_LIST_IDS = 100  # the largest page GET /vectors/list returns
MAX_INDEX_NAME = 45
MAX_FETCH_IDS = 200  # ids travel in the query string; keep URLs well under server limits
MAX_DELETE_IDS = 1000
_REQUEST_OVERHEAD = 256  # the envelope around the vectors: {"vectors": [...], "namespace": ...}


def dense_schema(dimension: int, metric: str) -> dict[str, Any]:
    """The schema of an index of dense vectors, the only kind this provider creates."""
    return {
        "fields": {DENSE_FIELD: {"type": "dense_vector", "dimension": dimension, "metric": metric}}
    }


def check_metadata(vid: str, metadata: Mapping[str, Any], text: str | None = None) -> None:
    """Pinecone's metadata rules, checked before anything is sent; ``text`` is stored
    alongside, so it counts towards the size."""
    if TEXT_KEY in metadata:
        raise errors.ValidationError(
            f"Vector {vid!r}: metadata key {TEXT_KEY!r} is reserved for the record's text on "
            "Pinecone; pass the text as the record's text instead."
        )
    for key, value in metadata.items():
        ok = (
            isinstance(value, str | bool)
            or (isinstance(value, int | float) and math.isfinite(value))
            or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        )
        if not ok:
            raise errors.ValidationError(
                f"Vector {vid!r}: metadata {key!r} must be a string, number, boolean or list of "
                f"strings on Pinecone, got {value!r}."
            )
    check_size(vid, metadata, text)


def check_size(vid: str, metadata: Mapping[str, Any], text: str | None) -> None:
    """The metadata as stored (with the text) within Pinecone's 40 KB."""
    stored = with_text(metadata, text)
    size = len(json.dumps(stored, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        what = "metadata" if text is None else "metadata with the record's text"
        raise errors.ValidationError(
            f"Vector {vid!r}: {what} is {size} bytes of JSON; Pinecone allows at most "
            f"{MAX_METADATA_BYTES} bytes (40 KB) per vector"
            + ("." if text is None else ", and keeps the text in metadata: shorten the text.")
        )


def check_id(vid: str) -> None:
    """Pinecone ids are ASCII (the client already bounds the length and refuses NUL)."""
    if not vid.isascii() or len(vid) > MAX_ID_LENGTH:
        raise errors.ValidationError(
            f"Vector id {vid[:40]!r}: Pinecone ids are 1-{MAX_ID_LENGTH} ASCII characters."
        )


def record(
    vid: str, values: np.ndarray, metadata: dict[str, Any], text: str | None = None
) -> dict[str, Any]:
    """One upsert record; :meth:`PineconeProvider.validate_batch` has checked it."""
    record: dict[str, Any] = {"id": vid, "values": values.astype(float).tolist()}
    if metadata or text is not None:
        record["metadata"] = with_text(metadata, text)
    return record


def request_chunks(records: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Split records so each request stays within Pinecone's count and size limits."""
    chunk: list[dict[str, Any]] = []
    size = _REQUEST_OVERHEAD
    for record in records:
        record_size = len(json.dumps(record, separators=(",", ":")).encode()) + 1
        if chunk and (
            len(chunk) >= MAX_VECTORS_PER_REQUEST or size + record_size > MAX_REQUEST_BYTES
        ):
            yield chunk
            chunk, size = [], _REQUEST_OVERHEAD
        chunk.append(record)
        size += record_size
    if chunk:
        yield chunk


def convert_score(metric: str, raw: float) -> tuple[float, float]:
    """Pinecone's score to ours, plus the raw distance in pgvector's conventions: Pinecone
    reports cosine similarity and the dot product as we do, and the squared L2 distance."""
    if metric == "euclidean":
        distance = math.sqrt(max(raw, 0.0))  # Pinecone reports the squared L2 distance
        return 1.0 / (1.0 + distance), distance
    if metric == "dotproduct":
        return raw, -raw
    return raw, 1.0 - raw


def check_batch(batch: Batch) -> None:
    """Every record's id, metadata and values within Pinecone's limits (it refuses a vector
    of zeros, in every metric), before any request is sent."""
    zero = ~batch.values.any(axis=1) if len(batch.ids) else []
    texts = batch.texts or [None] * len(batch)
    for vid, meta, text, is_zero in zip(batch.ids, batch.metadata, texts, zero, strict=True):
        check_id(vid)
        if is_zero:
            raise errors.ValidationError(
                f"Vector {vid!r} is all zeros, which Pinecone does not store. "
                "Leave it out, or give it a non-zero vector."
            )
        if meta or text is not None:
            check_metadata(vid, meta, text)
