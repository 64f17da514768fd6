"""How a vector is kept in Qdrant: its point id, its payload, and its score.

Qdrant point ids are integers or UUIDs, so a vector's string id maps to
``uuid5(POINT_ID_NAMESPACE, namespace + "\\0" + id)``; every point's payload is::

    {"_vectra_id": <our id>, "_vectra_ns": <namespace>, "metadata": {...}, "_vectra_norm": 1.0,
     "_vectra_text": "the record's text"}

``_vectra_ns`` carries a keyword payload index and scopes every operation; user metadata
lives under its own key, so it never collides with ours and filters (compiled to
``metadata.<key>``) cannot reach ours; ``_vectra_norm`` (cosine only) restores the length
Qdrant normalises away on write, so fetched values are the ones stored; ``_vectra_text``
(only when the record has text) is the text that :mod:`.text` also writes as a sparse vector.

Qdrant reports cosine similarity and the dot product as we do, and the L2 distance for
``Euclid``, which becomes ``1 / (1 + distance)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from ...client.results import Match

POINT_ID_NAMESPACE = uuid.UUID("5b0b7a52-6c1e-4f0e-9d4b-7e3a9c2f1d60")
ID_KEY = "_vectra_id"
NAMESPACE_KEY = "_vectra_ns"
NORM_KEY = "_vectra_norm"
TEXT_KEY = "_vectra_text"
METADATA_KEY = "metadata"
DENSE_VECTOR = ""  # Qdrant's name for a collection's unnamed vector
DISTANCES = {"cosine": "Cosine", "euclidean": "Euclid", "dotproduct": "Dot"}
METRICS = {v: k for k, v in DISTANCES.items()}
SCROLL_PAGE = 1000


def point_id(namespace: str, vector_id: str) -> str:
    """The Qdrant point id of ``vector_id`` in ``namespace``; deterministic (idempotent writes)."""
    return str(uuid.uuid5(POINT_ID_NAMESPACE, f"{namespace}\x00{vector_id}"))


def point_values(vector: Any, payload: Mapping[str, Any]) -> list[float]:
    """The stored values; a cosine vector is scaled back by its norm and rounded to float32,
    the precision it was written with, so ``[1.0, 2.0]`` reads back as ``[1.0, 2.0]``."""
    if isinstance(vector, Mapping):  # a collection with named (sparse) vectors too
        vector = vector.get(DENSE_VECTOR)
    values = np.asarray(vector or [], dtype=np.float64)
    norm = payload.get(NORM_KEY)
    if norm is not None:
        values = (values * norm).astype(np.float32)
    return [float(x) for x in values]


def convert_score(metric: str, raw: float) -> tuple[float, float]:
    """Qdrant's score to ours, plus the raw distance in pgvector's conventions."""
    if metric == "euclidean":
        return 1.0 / (1.0 + raw), raw
    if metric == "dotproduct":
        return raw, -raw
    return raw, 1.0 - raw


def point_match(
    point: Any,
    score: float,
    distance: float | None,
    include_values: bool,
    include_metadata: bool,
) -> Match:
    """A scored point as our :class:`Match`; its payload holds what the query asked for."""
    payload = point.payload or {}
    return Match(
        id=payload[ID_KEY],
        score=score,
        distance=distance,
        values=point_values(point.vector, payload) if include_values else None,
        metadata=dict(payload.get(METADATA_KEY) or {}) if include_metadata else None,
    )


def wanted_payload(include_metadata: bool) -> list[str]:
    """The payload keys a search reads back: never the text, which no match carries."""
    return [ID_KEY, NORM_KEY] + ([METADATA_KEY] if include_metadata else [])
