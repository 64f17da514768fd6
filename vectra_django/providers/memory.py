"""An exact, in-process store on numpy: for tests, development and small corpora.

It is the reference implementation of the provider contract, so the same tests that a
user runs against it hold on pgvector, Pinecone and Qdrant.
"""

from __future__ import annotations

import heapq
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..client import filters
from ..client.distance import Metric, score_from_distance
from ..client.requests import IdPage, QueryRequest, TextRequest
from ..client.results import Match, QueryResult, Vector
from ..client.validation import Batch
from ..errors import NotFoundError, ValidationError
from . import keywords
from .base import BaseProvider, fused_search, stats_result


@dataclass
class _Index:
    dimension: int
    metric: Metric
    # namespace -> id -> (values, metadata, text)
    namespaces: dict[str, dict[str, tuple[np.ndarray, dict[str, Any], str | None]]] = field(
        default_factory=dict
    )


class MemoryProvider(BaseProvider):
    """Keeps indexes in a dict guarded by one lock; every operation is exact."""

    name: ClassVar[str] = "memory"
    default_batch_size: ClassVar[int] = 10_000

    def __init__(self, **options: Any) -> None:
        self._indexes: dict[str, _Index] = {}
        self._lock = threading.RLock()

    def _get(self, name: str) -> _Index:
        try:
            return self._indexes[name]
        except KeyError:
            raise NotFoundError(f"Index {name!r} does not exist.") from None

    def create_index(
        self, name: str, dimension: int, metric: Metric, options: Mapping[str, Any]
    ) -> None:
        with self._lock:
            existing = self._indexes.get(name)
            if existing is None:
                self._indexes[name] = _Index(dimension, metric)
            elif (existing.dimension, existing.metric) != (dimension, metric):
                raise ValidationError(
                    f"Index {name!r} already exists with dimension {existing.dimension} "
                    f"and metric {existing.metric!r}."
                )

    def delete_index(self, name: str) -> None:
        with self._lock:
            self._get(name)
            del self._indexes[name]

    def list_indexes(self) -> list[str]:
        with self._lock:
            return sorted(self._indexes)

    def describe_index(self, name: str) -> dict[str, Any]:
        with self._lock:
            idx = self._get(name)
            return {"name": name, "dimension": idx.dimension, "metric": idx.metric}

    def stats(self, name: str) -> dict[str, Any]:
        with self._lock:
            idx = self._get(name)
            counts = {ns: len(rows) for ns, rows in idx.namespaces.items()}
            return stats_result(counts, idx.dimension, metric=idx.metric)

    def upsert(self, index: str, batch: Batch, namespace: str) -> int:
        with self._lock:
            rows = self._get(index).namespaces.setdefault(namespace, {})
            texts = batch.texts or [None] * len(batch)
            for vid, values, meta, text in zip(
                batch.ids, batch.values, batch.metadata, texts, strict=True
            ):
                rows[vid] = (values.copy(), dict(meta), text)
            return len(batch)

    def query(self, index: str, request: QueryRequest) -> QueryResult:
        with self._lock:
            idx = self._get(index)
            candidates = [
                (vid, values, meta)
                for vid, (values, meta, _) in idx.namespaces.get(request.namespace, {}).items()
                if filters.evaluate(request.filter, meta)
            ]
        if not candidates:
            return QueryResult([], index=index, namespace=request.namespace)
        matrix = np.stack([c[1] for c in candidates]).astype(np.float64)
        distances = _distances(idx.metric, matrix, request.vector.astype(np.float64))
        order = np.argsort(distances, kind="stable")
        matches = []
        for i in order:
            score = score_from_distance(idx.metric, float(distances[i]))
            if request.score_threshold is not None and score < request.score_threshold:
                continue
            vid, values, meta = candidates[i]
            matches.append(
                Match(
                    id=vid,
                    score=score,
                    distance=float(distances[i]),
                    values=values.tolist() if request.include_values else None,
                    metadata=dict(meta) if request.include_metadata else None,
                )
            )
            if len(matches) == request.top_k:
                break
        return QueryResult(matches, index=index, namespace=request.namespace)

    def fetch(self, index: str, ids: list[str], namespace: str) -> dict[str, Vector]:
        with self._lock:
            rows = self._get(index).namespaces.get(namespace, {})
            return {
                vid: Vector(vid, rows[vid][0].tolist(), dict(rows[vid][1]), namespace, rows[vid][2])
                for vid in ids
                if vid in rows
            }

    def update(
        self,
        index: str,
        id: str,
        namespace: str,
        values: np.ndarray | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            rows = self._get(index).namespaces.get(namespace, {})
            if id not in rows:
                raise NotFoundError(f"Vector {id!r} does not exist in index {index!r}.")
            old_values, old_meta, text = rows[id]
            rows[id] = (
                old_values if values is None else values.copy(),
                old_meta if metadata is None else {**old_meta, **metadata},
                text,
            )

    def delete(
        self,
        index: str,
        namespace: str,
        ids: list[str] | None = None,
        filter: filters.Node | None = None,
        delete_all: bool = False,
    ) -> int:
        with self._lock:
            rows = self._get(index).namespaces.get(namespace, {})
            if delete_all:
                doomed = list(rows)
            elif ids is not None:
                doomed = [vid for vid in ids if vid in rows]
            else:
                doomed = [vid for vid, row in rows.items() if filters.evaluate(filter, row[1])]
            for vid in doomed:
                del rows[vid]
            return len(doomed)

    def list_ids(
        self,
        index: str,
        namespace: str,
        prefix: str = "",
        limit: int = 1000,
        cursor: str | None = None,
    ) -> IdPage:
        """Sorted ids; the cursor is the last id returned, so pages survive deletes."""
        with self._lock:
            rows = self._get(index).namespaces.get(namespace, {})
            later = [
                vid for vid in rows if vid.startswith(prefix) and (cursor is None or vid > cursor)
            ]
        return IdPage.after_last(heapq.nsmallest(limit + 1, later), limit)

    def text_search(self, index: str, request: TextRequest) -> QueryResult:
        """Okapi BM25 over the records' ``text`` (records without a query word are left out)."""
        with self._lock:
            idx = self._get(index)
            rows = [
                (vid, values, meta, Counter(keywords.tokens(text)))
                for vid, (values, meta, text) in idx.namespaces.get(request.namespace, {}).items()
                if text and filters.evaluate(request.filter, meta)
            ]
        scores = keywords.bm25(keywords.tokens(request.text), [row[3] for row in rows])
        ranked = sorted(
            ((score, row) for score, row in zip(scores, rows, strict=True) if score > 0),
            key=lambda pair: (-pair[0], pair[1][0]),
        )[: request.candidates or request.top_k]
        matches = [
            Match(
                id=vid,
                score=score,
                values=values.tolist() if request.include_values else None,
                metadata=dict(meta) if request.include_metadata else None,
            )
            for score, (vid, values, meta, _) in ranked
        ]
        return QueryResult(matches, index=index, namespace=request.namespace)

    def hybrid_search(self, index: str, request: TextRequest) -> QueryResult:
        return fused_search(self, index, request)

    def healthy(self) -> bool:
        return True


def _distances(metric: Metric, matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Raw distances in pgvector's conventions (see :mod:`vectra_django.metrics`)."""
    if metric == "euclidean":
        return np.linalg.norm(matrix - vector, axis=1)
    dots = matrix @ vector
    if metric == "dotproduct":
        return -dots
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(vector)
    with np.errstate(divide="ignore", invalid="ignore"):
        similarity = np.where(norms > 0, dots / norms, 0.0)
    return 1.0 - similarity
