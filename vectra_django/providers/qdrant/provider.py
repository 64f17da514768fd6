"""Qdrant, through ``qdrant-client`` (the ``qdrant`` extra: ``pip install qdrant-client``).

One collection per index, points laid out as :mod:`.payload` says; keyword and hybrid
search are in :mod:`.text`. Writes wait for completion. ``url=``/``api_key=`` reach a
server, ``path=`` or ``location=":memory:"`` run in-process. One provider serves every
thread: the remote clients are thread-safe, while qdrant-client's local mode takes no locks,
so there each operation holds the provider's lock.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from ... import errors
from ...client.distance import Metric, distance_from_score
from ...client.filters import Node
from ...client.requests import IdPage, QueryRequest
from ...client.results import QueryResult, Vector
from ...client.validation import Batch
from ..base import BaseProvider, stats_result
from .connection import open_client
from .errors import map_errors
from .filters import compile_filter
from .payload import (
    DISTANCES,
    ID_KEY,
    METADATA_KEY,
    METRICS,
    NAMESPACE_KEY,
    NORM_KEY,
    SCROLL_PAGE,
    TEXT_KEY,
    convert_score,
    point_id,
    point_match,
    point_values,
    wanted_payload,
)
from .text import KeywordSearch, point_vector, sparse_vectors_config


class QdrantProvider(KeywordSearch, BaseProvider):
    """Qdrant collections, one per index, namespaces as an indexed payload field."""

    name: ClassVar[str] = "qdrant"
    default_batch_size: ClassVar[int] = 256

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        path: str | None = None,
        location: str | None = None,
        *,
        host: str | None = None,
        port: int | None = None,
        timeout: float | None = None,
        prefer_grpc: bool = False,
        collection_prefix: str = "",
        pool_size: int | None = None,
        pool_timeout: float | None = None,
        client: Any = None,
    ) -> None:
        self.url = url
        self._api_key = api_key
        self.path = path
        self.location = location
        self.host = host
        self.port = port
        self.timeout = timeout
        self.prefer_grpc = prefer_grpc
        self.collection_prefix = collection_prefix
        self._client = client
        self._metrics: dict[str, Metric] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        where = self.url or self.path or self.location or self.host or "localhost"
        # Never show credentials embedded in a URL (scheme://user:password@host).
        where = re.sub(r"//[^/@]*@", "//***@", str(where))
        return f"<QdrantProvider at {where!r}>"

    # -- plumbing ------------------------------------------------------------------------

    def map_errors(self) -> Any:
        return map_errors(self._api_key)

    @property
    def local(self) -> bool:
        return bool(self.path or self.location == ":memory:")

    @property
    def concurrent_writes(self) -> bool:
        """Not in local mode: operations on the embedded store run one at a time."""
        return not self.local

    def _exclusive(self) -> contextlib.AbstractContextManager[Any]:
        """The provider's lock in local mode, where qdrant-client's embedded store (``:memory:``
        or ``path=``) is not thread-safe; nothing for a server, whose clients are."""
        return self._lock if self.local else contextlib.nullcontext()

    @contextlib.contextmanager
    def _session(self) -> Iterator[Any]:
        """The qdrant client with errors mapped, for one whole operation.

        In local mode the operation runs alone, so several calls (check, then create) act as
        one and :meth:`close` never closes the store under it.
        """
        with self._exclusive(), self.map_errors():
            yield self._qdrant()

    def _qdrant(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = open_client(
                    url=self.url,
                    api_key=self._api_key,
                    path=self.path,
                    location=self.location,
                    host=self.host,
                    port=self.port,
                    timeout=self.timeout,
                    prefer_grpc=self.prefer_grpc,
                )
            return self._client

    @staticmethod
    def _models() -> Any:
        from qdrant_client import models

        return models

    def _collection(self, index: str) -> str:
        return f"{self.collection_prefix}{index}"

    def _metric(self, index: str) -> Metric:
        with self._lock:
            cached = self._metrics.get(index)
        return cached if cached is not None else self.describe_index(index)["metric"]

    def _scope(self, namespace: str, node: Node | None = None) -> Any:
        """A Qdrant filter for ``node`` restricted to ``namespace``."""
        m = self._models()
        must = [m.FieldCondition(key=NAMESPACE_KEY, match=m.MatchValue(value=namespace))]
        if node is not None:
            must.append(compile_filter(node))
        return m.Filter(must=must)

    # -- indexes -------------------------------------------------------------------------

    def create_index(
        self, name: str, dimension: int, metric: Metric, options: Mapping[str, Any]
    ) -> None:
        m, collection = self._models(), self._collection(name)
        with self._session() as client:
            if client.collection_exists(collection):
                existing = self.describe_index(name)
                if (existing["dimension"], existing["metric"]) != (dimension, metric):
                    raise errors.ValidationError(
                        f"Index {name!r} already exists with dimension {existing['dimension']} "
                        f"and metric {existing['metric']!r}."
                    )
                return
            options = dict(options)
            sparse = {**sparse_vectors_config(m), **options.pop("sparse_vectors_config", {})}
            client.create_collection(
                collection,
                vectors_config=m.VectorParams(size=dimension, distance=DISTANCES[metric]),
                sparse_vectors_config=sparse,
                **options,
            )
            with warnings.catch_warnings():
                # Local mode warns that payload indexes do nothing there; servers use them.
                warnings.simplefilter("ignore", UserWarning)
                for key in (NAMESPACE_KEY, ID_KEY):
                    client.create_payload_index(
                        collection, key, field_schema=m.PayloadSchemaType.KEYWORD, wait=True
                    )
        with self._lock:
            self._metrics[name] = metric

    def delete_index(self, name: str) -> None:
        with self._session() as client:
            if not client.collection_exists(self._collection(name)):
                raise errors.NotFoundError(f"Index {name!r} does not exist.")
            client.delete_collection(self._collection(name))
        with self._lock:
            self._metrics.pop(name, None)

    def list_indexes(self) -> list[str]:
        prefix = self.collection_prefix
        with self._session() as client:
            names = [c.name for c in client.get_collections().collections]
        return sorted(n[len(prefix) :] for n in names if n.startswith(prefix))

    def describe_index(self, name: str) -> dict[str, Any]:
        with self._session() as client:
            info = client.get_collection(self._collection(name))
        params = info.config.params.vectors
        if not hasattr(params, "size"):
            raise errors.UnsupportedFeatureError(
                self.name, f"collection {self._collection(name)!r} with named vectors"
            )
        distance = getattr(params.distance, "value", params.distance)
        metric = METRICS.get(distance)
        if metric is None:
            raise errors.UnsupportedFeatureError(self.name, f"the {distance!r} distance")
        with self._lock:
            self._metrics[name] = metric  # type: ignore[assignment]
        return {
            "name": name,
            "dimension": int(params.size),
            "metric": metric,
            "collection": self._collection(name),
            "status": str(getattr(info.status, "value", info.status)),
            "payload_indexes": sorted(info.payload_schema or {}),
            "sparse_vectors": sorted(info.config.params.sparse_vectors or {}),
        }

    def stats(self, name: str) -> dict[str, Any]:
        dimension = self.describe_index(name)["dimension"]
        with self._session() as client:
            hits = client.facet(
                self._collection(name), key=NAMESPACE_KEY, limit=1_000_000, exact=True
            ).hits
        return stats_result({str(h.value): h.count for h in hits}, dimension)

    # -- vectors -------------------------------------------------------------------------

    def upsert(self, index: str, batch: Batch, namespace: str) -> int:
        m = self._models()
        cosine = self._metric(index) == "cosine"
        points = []
        texts = batch.texts or [None] * len(batch)
        rows = zip(batch.ids, batch.values, batch.metadata, texts, strict=True)
        for vid, values, meta, text in rows:
            payload: dict[str, Any] = {ID_KEY: vid, NAMESPACE_KEY: namespace, METADATA_KEY: meta}
            if cosine:
                payload[NORM_KEY] = float(np.linalg.norm(values.astype(np.float64)))
            if text is not None:
                payload[TEXT_KEY] = text
            vector = point_vector(m, values, text)
            points.append(
                m.PointStruct(id=point_id(namespace, vid), vector=vector, payload=payload)
            )
        self._write_points(index, points)
        return len(points)

    def query(self, index: str, request: QueryRequest) -> QueryResult:
        metric = self._metric(index)
        threshold = request.score_threshold
        if threshold is not None and metric == "euclidean":
            distance = distance_from_score(metric, threshold)
            threshold = None if math.isinf(distance) else distance
        with self._session() as client:
            response = client.query_points(
                self._collection(index),
                query=request.vector.tolist(),
                query_filter=self._scope(request.namespace, request.filter),
                limit=request.top_k,
                with_payload=wanted_payload(request.include_metadata),
                with_vectors=request.include_values,
                score_threshold=threshold,
            )
        matches = []
        for point in response.points:
            score, distance = convert_score(metric, float(point.score))
            if request.score_threshold is not None and score < request.score_threshold:
                continue
            matches.append(
                point_match(
                    point, score, distance, request.include_values, request.include_metadata
                )
            )
        return QueryResult(matches, index=index, namespace=request.namespace)

    def fetch(self, index: str, ids: list[str], namespace: str) -> dict[str, Vector]:
        with self._session() as client:
            points = client.retrieve(
                self._collection(index),
                ids=[point_id(namespace, vid) for vid in ids],
                with_payload=True,
                with_vectors=True,
            )
        found = {}
        for point in points:
            payload = point.payload or {}
            if payload.get(NAMESPACE_KEY) != namespace:
                continue
            vid = payload[ID_KEY]
            found[vid] = Vector(
                vid,
                point_values(point.vector, payload),
                dict(payload.get(METADATA_KEY) or {}),
                namespace,
                payload.get(TEXT_KEY),
            )
        return {vid: found[vid] for vid in ids if vid in found}

    def update(
        self,
        index: str,
        id: str,
        namespace: str,
        values: np.ndarray | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        m = self._models()
        collection, pid = self._collection(index), point_id(namespace, id)
        with self._session() as client:
            if not client.retrieve(collection, ids=[pid], with_payload=False):
                raise errors.NotFoundError(f"Vector {id!r} does not exist in index {index!r}.")
            if values is not None:
                client.update_vectors(
                    collection, points=[m.PointVectors(id=pid, vector=values.tolist())], wait=True
                )
                if self._metric(index) == "cosine":
                    norm = float(np.linalg.norm(values.astype(np.float64)))
                    client.set_payload(
                        collection, payload={NORM_KEY: norm}, points=[pid], wait=True
                    )
            if metadata:
                # Writing under the nested key merges into "metadata" and leaves the rest alone.
                client.set_payload(
                    collection, payload=metadata, points=[pid], key=METADATA_KEY, wait=True
                )

    def delete(
        self,
        index: str,
        namespace: str,
        ids: list[str] | None = None,
        filter: Node | None = None,
        delete_all: bool = False,
    ) -> int | None:
        m = self._models()
        if ids is not None:
            selector: Any = m.PointIdsList(points=[point_id(namespace, vid) for vid in ids])
        else:
            selector = m.FilterSelector(
                filter=self._scope(namespace, None if delete_all else filter)
            )
        with self._session() as client:
            client.delete(self._collection(index), points_selector=selector, wait=True)
        return None

    def list_ids(
        self,
        index: str,
        namespace: str,
        prefix: str = "",
        limit: int = 1000,
        cursor: str | None = None,
    ) -> IdPage:
        """Scrolls the namespace in point-id order; the prefix is matched here.

        The cursor is the point id to resume at (Qdrant's own scroll offset), so a page that
        stops mid-scroll loses nothing and deleting ids already returned skips nothing.
        """
        collection = self._collection(index)
        ids: list[str] = []
        offset: Any = cursor
        with self._session() as client:
            while True:
                points, offset = client.scroll(
                    collection,
                    scroll_filter=self._scope(namespace),
                    limit=max(limit, SCROLL_PAGE) if prefix else limit,
                    offset=offset,
                    with_payload=[ID_KEY],
                    with_vectors=False,
                )
                for point in points:
                    vid = (point.payload or {}).get(ID_KEY, "")
                    if not vid.startswith(prefix):
                        continue
                    if len(ids) == limit:
                        return IdPage(ids, str(point.id))
                    ids.append(vid)
                if offset is None:
                    return IdPage(ids)
                if len(ids) == limit:
                    return IdPage(ids, str(offset))

    def healthy(self) -> bool:
        try:
            self.list_indexes()
        except errors.VectraError:
            return False
        return True

    def close(self) -> None:
        """Forget the client and close it (in local mode, between two operations)."""
        with self._exclusive():
            with self._lock:
                client, self._client = self._client, None
            if client is not None:
                client.close()
