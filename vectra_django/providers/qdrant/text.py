"""Keyword and hybrid search on Qdrant: a sparse vector of each record's words.

Besides its unnamed dense vector, a collection has a sparse vector named ``text``: the
record's words as hashed term ids with saturated term frequencies
(:func:`~vectra_django.providers.keywords.sparse_document`), configured with Qdrant's
``Modifier.IDF`` so that each query word is weighed by its inverse document frequency: BM25
without length normalisation. Qdrant counts that frequency over the whole collection, every
namespace included; namespaces and filters select the rows, never this statistic.

A hybrid search sends both legs in one ``query_batch_points`` request and fuses them here
with :func:`~vectra_django.client.fusion.rrf` rather than with Qdrant's own RRF, which uses
another ``k`` (2 by default), weighs a rank as ``1 / (rank / w + k - 1)`` (weights only in
recent versions) and returns the fused score alone, without each leg's: fusing here gives
``alpha`` and ``rrf_k`` the meaning they have on every other store.

A collection made before records carried text has no ``text`` vector. The first upsert
that carries text adds it (on servers that can add a vector to a collection); until then
a keyword search says what to do instead of passing on Qdrant's error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ... import errors
from ...client.fusion import rrf
from ...client.requests import TextRequest
from ...client.results import Match, QueryResult
from .. import keywords
from .payload import DENSE_VECTOR, convert_score, point_match, wanted_payload

if TYPE_CHECKING:
    from .provider import QdrantProvider

TEXT_VECTOR = "text"


def sparse_vectors_config(m: Any) -> dict[str, Any]:
    """The sparse vectors of a new collection: ``text``, weighed by Qdrant's IDF."""
    return {TEXT_VECTOR: m.SparseVectorParams(modifier=m.Modifier.IDF)}


def point_vector(m: Any, values: np.ndarray, text: str | None) -> Any:
    """A point's vectors: the dense values, plus the sparse ``text`` vector when the text
    has a searchable word (a point without one stays a plain dense point)."""
    dense = values.tolist()
    indices, weights = keywords.sparse_document(text)
    if not indices:
        return dense
    return {DENSE_VECTOR: dense, TEXT_VECTOR: m.SparseVector(indices=indices, values=weights)}


class KeywordSearch:
    """The keyword half of :class:`~vectra_django.providers.qdrant.QdrantProvider`."""

    def text_search(self: QdrantProvider, index: str, request: TextRequest) -> QueryResult:
        """The records sharing a word with ``request.text``, best first; ``score`` is the
        sum of the shared words' IDF times their saturated frequency in the record."""
        _, text_leg = self._legs(index, request, vector=False)
        return QueryResult(text_leg, index=index, namespace=request.namespace)

    def hybrid_search(self: QdrantProvider, index: str, request: TextRequest) -> QueryResult:
        """Both legs in one round trip, fused by RRF here; a leg of weight 0 is not run."""
        vector_leg, text_leg = self._legs(index, request, vector=request.vector_weight > 0)
        matches = rrf(
            vector_leg,
            text_leg,
            vector_weight=request.vector_weight,
            text_weight=request.text_weight,
            k=request.rrf_k,
            top_k=request.top_k,
        )
        return QueryResult(matches, index=index, namespace=request.namespace)

    def _legs(
        self: QdrantProvider, index: str, request: TextRequest, *, vector: bool
    ) -> tuple[list[Match], list[Match]]:
        """The vector leg (when ``vector``) and the text leg (when its weight is above 0),
        each ranking ``candidates`` (else ``top_k``) rows of the namespace that pass the
        filter, from one ``query_batch_points`` request."""
        m = self._models()
        common: dict[str, Any] = {
            "filter": self._scope(request.namespace, request.filter),
            "limit": request.candidates or request.top_k,
            "with_payload": wanted_payload(request.include_metadata),
            "with_vector": request.include_values,
        }
        requests, kinds = [], []
        if vector:
            assert request.vector is not None  # the client requires it when alpha > 0
            requests.append(m.QueryRequest(query=request.vector.tolist(), **common))
            kinds.append("vector")
        text = request.text_weight > 0
        indices, ones = keywords.sparse_query(request.text)
        if text and indices:
            sparse = m.SparseVector(indices=indices, values=ones)
            requests.append(m.QueryRequest(query=sparse, using=TEXT_VECTOR, **common))
            kinds.append("text")
        elif text:
            # Only stop words or punctuation: no record can match, but the index must
            # still exist and be able to search text.
            self._require_text_vector(index)
        responses = self._batch(index, requests, text_leg="text" in kinds) if requests else []
        legs: dict[str, list[Match]] = {"vector": [], "text": []}
        for kind, response in zip(kinds, responses, strict=True):
            metric = self._metric(index) if kind == "vector" else None
            for point in response.points:
                raw = float(point.score)
                if metric is not None:
                    score, distance = convert_score(metric, raw)
                elif raw > 0:
                    score, distance = raw, None
                else:
                    continue  # no word in common
                legs[kind].append(
                    point_match(
                        point, score, distance, request.include_values, request.include_metadata
                    )
                )
        # Equal keyword scores are common (short texts): the smaller id first, as elsewhere.
        legs["text"].sort(key=lambda match: (-match.score, match.id))
        return legs["vector"], legs["text"]

    def _batch(self: QdrantProvider, index: str, requests: list[Any], text_leg: bool) -> Any:
        try:
            with self._session() as client:
                return client.query_batch_points(self._collection(index), requests=requests)
        except (errors.ValidationError, errors.NotFoundError):
            # Qdrant's answer to a missing vector name, by mode: 400 or "not found".
            if text_leg:
                self._require_text_vector(index)
            raise

    def _require_text_vector(self: QdrantProvider, index: str) -> None:
        """:class:`UnsupportedFeatureError` saying what to do when the collection has no
        ``text`` vector (:class:`NotFoundError` when there is no collection)."""
        if TEXT_VECTOR not in self.describe_index(index)["sparse_vectors"]:
            raise self.unsupported(
                f"keyword search on index {index!r} yet: its collection "
                f"{self._collection(index)!r} was created before records carried text and "
                f"has no {TEXT_VECTOR!r} sparse vector. Upsert the records with their text "
                "(manage.py vectra_reindex does it for model indexes) to add it, or delete "
                "and recreate the index"
            )

    def _write_points(self: QdrantProvider, index: str, points: list[Any]) -> None:
        """Upsert ``points``; into a collection without the ``text`` vector, points with
        text first add it (the write fails whole, so nothing is half-written before)."""
        collection = self._collection(index)
        try:
            with self._session() as client:
                client.upsert(collection, points=points, wait=True)
            return
        except (errors.ValidationError, errors.NotFoundError):
            if not any(isinstance(p.vector, dict) for p in points):
                raise
            if TEXT_VECTOR in self.describe_index(index)["sparse_vectors"]:
                raise
        self._add_text_vector(index)
        with self._session() as client:
            client.upsert(collection, points=points, wait=True)

    def _add_text_vector(self: QdrantProvider, index: str) -> None:
        m, collection = self._models(), self._collection(index)

        def cannot(reason: str) -> errors.UnsupportedFeatureError:
            return self.unsupported(
                f"records with text in index {index!r}: its collection {collection!r} was "
                f"created before records carried text and has no {TEXT_VECTOR!r} sparse "
                f"vector, which {reason}. Delete and recreate the index (then run manage.py "
                "vectra_reindex for model indexes)"
            )

        with self._session() as client:
            create = getattr(client, "create_vector_name", None)
        if create is None or not hasattr(m, "SparseVectorNameConfig"):
            raise cannot("this qdrant-client cannot add")
        config = m.SparseVectorNameConfig(sparse=m.SparseVectorConfig(modifier=m.Modifier.IDF))
        try:
            with self._session():
                create(collection, TEXT_VECTOR, config, wait=True)
        except (errors.ValidationError, errors.NotFoundError) as exc:
            # An older server has no such endpoint, or refuses the change.
            raise cannot(f"this Qdrant server could not add ({exc})") from exc
