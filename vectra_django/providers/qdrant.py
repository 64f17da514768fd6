"""Qdrant, through ``qdrant-client`` (``pip install "vectra-django[qdrant]"``).

One collection per index. Qdrant point ids are integers or UUIDs, so a vector's string id
maps to ``uuid5(POINT_ID_NAMESPACE, namespace + "\\0" + id)``; every point's payload is::

    {"_vectra_id": <our id>, "_vectra_ns": <namespace>, "metadata": {...}, "_vectra_norm": 1.0}

``_vectra_ns`` carries a keyword payload index and scopes every operation; user metadata
lives under its own key so it never collides with ours; ``_vectra_norm`` (cosine only)
restores the length Qdrant normalises away on write, so fetched values are the ones stored.

Scores: Qdrant reports cosine similarity and the dot product as we do, and the L2 distance
for ``Euclid``, which becomes ``1 / (1 + distance)``. Writes wait for completion.
``url=``/``api_key=`` reach a server, ``path=`` or ``location=":memory:"`` run in-process.
"""

from __future__ import annotations

import math
import re
import threading
import uuid
import warnings
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import numpy as np

from .. import errors
from ..filters import And, Condition, Node, Or
from ..metrics import Metric, distance_from_score
from ..types import Match, QueryResult, Vector
from ..validation import Batch
from .base import BaseProvider, IdPage, QueryRequest, stats_result, translating_errors

POINT_ID_NAMESPACE = uuid.UUID("5b0b7a52-6c1e-4f0e-9d4b-7e3a9c2f1d60")
ID_KEY = "_vectra_id"
NAMESPACE_KEY = "_vectra_ns"
NORM_KEY = "_vectra_norm"
METADATA_KEY = "metadata"
_DISTANCES = {"cosine": "Cosine", "euclidean": "Euclid", "dotproduct": "Dot"}
_METRICS = {v: k for k, v in _DISTANCES.items()}
_SCROLL_PAGE = 1000


def point_id(namespace: str, vector_id: str) -> str:
    """The Qdrant point id of ``vector_id`` in ``namespace``; deterministic (idempotent writes)."""
    return str(uuid.uuid5(POINT_ID_NAMESPACE, f"{namespace}\x00{vector_id}"))


class QdrantProvider(BaseProvider):
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
        """Not in local mode: qdrant-client's embedded store takes no locks."""
        return not self.local

    def _qdrant(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    from qdrant_client import QdrantClient
                except ImportError as exc:
                    raise errors.ConfigurationError(
                        "The qdrant provider needs qdrant-client: "
                        'pip install "vectra-django[qdrant]".'
                    ) from exc
                kwargs: dict[str, Any] = {
                    "url": self.url,
                    "api_key": self._api_key,
                    "path": self.path,
                    "location": self.location,
                    "host": self.host,
                    "port": self.port if self.port is not None else 6333,
                    "prefer_grpc": self.prefer_grpc,
                }
                if self.timeout is not None:
                    kwargs["timeout"] = max(1, math.ceil(float(self.timeout)))
                with self.map_errors():
                    self._client = QdrantClient(
                        **{k: v for k, v in kwargs.items() if v is not None}
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
        m, client = self._models(), self._qdrant()
        collection = self._collection(name)
        with self.map_errors():
            if client.collection_exists(collection):
                existing = self.describe_index(name)
                if (existing["dimension"], existing["metric"]) != (dimension, metric):
                    raise errors.ValidationError(
                        f"Index {name!r} already exists with dimension {existing['dimension']} "
                        f"and metric {existing['metric']!r}."
                    )
                return
            client.create_collection(
                collection,
                vectors_config=m.VectorParams(size=dimension, distance=_DISTANCES[metric]),
                **dict(options),
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
        client = self._qdrant()
        with self.map_errors():
            if not client.collection_exists(self._collection(name)):
                raise errors.NotFoundError(f"Index {name!r} does not exist.")
            client.delete_collection(self._collection(name))
        with self._lock:
            self._metrics.pop(name, None)

    def list_indexes(self) -> list[str]:
        client, prefix = self._qdrant(), self.collection_prefix
        with self.map_errors():
            names = [c.name for c in client.get_collections().collections]
        return sorted(n[len(prefix) :] for n in names if n.startswith(prefix))

    def describe_index(self, name: str) -> dict[str, Any]:
        client = self._qdrant()
        with self.map_errors():
            info = client.get_collection(self._collection(name))
        params = info.config.params.vectors
        if not hasattr(params, "size"):
            raise errors.UnsupportedFeatureError(
                self.name, f"collection {self._collection(name)!r} with named vectors"
            )
        distance = getattr(params.distance, "value", params.distance)
        metric = _METRICS.get(distance)
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
        }

    def stats(self, name: str) -> dict[str, Any]:
        dimension = self.describe_index(name)["dimension"]
        client = self._qdrant()
        with self.map_errors():
            hits = client.facet(
                self._collection(name), key=NAMESPACE_KEY, limit=1_000_000, exact=True
            ).hits
        return stats_result({str(h.value): h.count for h in hits}, dimension)

    # -- vectors -------------------------------------------------------------------------

    def upsert(self, index: str, batch: Batch, namespace: str) -> int:
        m, client = self._models(), self._qdrant()
        cosine = self._metric(index) == "cosine"
        points = []
        for vid, values, meta in zip(batch.ids, batch.values, batch.metadata, strict=True):
            payload: dict[str, Any] = {ID_KEY: vid, NAMESPACE_KEY: namespace, METADATA_KEY: meta}
            if cosine:
                payload[NORM_KEY] = float(np.linalg.norm(values.astype(np.float64)))
            points.append(
                m.PointStruct(id=point_id(namespace, vid), vector=values.tolist(), payload=payload)
            )
        with self.map_errors():
            client.upsert(self._collection(index), points=points, wait=True)
        return len(points)

    def query(self, index: str, request: QueryRequest) -> QueryResult:
        metric, client = self._metric(index), self._qdrant()
        threshold = request.score_threshold
        if threshold is not None and metric == "euclidean":
            distance = distance_from_score(metric, threshold)
            threshold = None if math.isinf(distance) else distance
        wanted = [ID_KEY, NORM_KEY] + ([METADATA_KEY] if request.include_metadata else [])
        with self.map_errors():
            response = client.query_points(
                self._collection(index),
                query=request.vector.tolist(),
                query_filter=self._scope(request.namespace, request.filter),
                limit=request.top_k,
                with_payload=wanted,
                with_vectors=request.include_values,
                score_threshold=threshold,
            )
        matches = []
        for point in response.points:
            payload = point.payload or {}
            score, distance = _convert_score(metric, float(point.score))
            if request.score_threshold is not None and score < request.score_threshold:
                continue
            matches.append(
                Match(
                    id=payload[ID_KEY],
                    score=score,
                    distance=distance,
                    values=_values(point.vector, payload) if request.include_values else None,
                    metadata=dict(payload.get(METADATA_KEY) or {})
                    if request.include_metadata
                    else None,
                )
            )
        return QueryResult(matches, index=index, namespace=request.namespace)

    def fetch(self, index: str, ids: list[str], namespace: str) -> dict[str, Vector]:
        client = self._qdrant()
        with self.map_errors():
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
                _values(point.vector, payload),
                dict(payload.get(METADATA_KEY) or {}),
                namespace,
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
        m, client = self._models(), self._qdrant()
        collection, pid = self._collection(index), point_id(namespace, id)
        with self.map_errors():
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
        m, client = self._models(), self._qdrant()
        if ids is not None:
            selector: Any = m.PointIdsList(points=[point_id(namespace, vid) for vid in ids])
        else:
            selector = m.FilterSelector(
                filter=self._scope(namespace, None if delete_all else filter)
            )
        with self.map_errors():
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
        client, collection = self._qdrant(), self._collection(index)
        ids: list[str] = []
        offset: Any = cursor
        with self.map_errors():
            while True:
                points, offset = client.scroll(
                    collection,
                    scroll_filter=self._scope(namespace),
                    limit=max(limit, _SCROLL_PAGE) if prefix else limit,
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
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def _values(vector: Any, payload: Mapping[str, Any]) -> list[float]:
    """The stored values; a cosine vector is scaled back by its norm and rounded to float32,
    the precision it was written with, so ``[1.0, 2.0]`` reads back as ``[1.0, 2.0]``."""
    values = np.asarray(vector or [], dtype=np.float64)
    norm = payload.get(NORM_KEY)
    if norm is not None:
        values = (values * norm).astype(np.float32)
    return [float(x) for x in values]


def _convert_score(metric: str, raw: float) -> tuple[float, float]:
    """Qdrant's score to ours, plus the raw distance in pgvector's conventions."""
    if metric == "euclidean":
        return 1.0 / (1.0 + raw), raw
    if metric == "dotproduct":
        return raw, -raw
    return raw, 1.0 - raw


# -- filters -----------------------------------------------------------------------------


def compile_filter(node: Node) -> Any:
    """Our filter tree as a Qdrant ``Filter`` over the nested ``metadata`` payload."""
    from qdrant_client import models as m

    if isinstance(node, And):
        return m.Filter(must=[compile_filter(child) for child in node.children])
    if isinstance(node, Or):
        return m.Filter(should=[compile_filter(child) for child in node.children])
    return _condition(node)


def _equals(key: str, value: Any) -> Any:
    """A condition true when ``key`` holds ``value``, with our type-aware equality."""
    from qdrant_client import models as m

    if isinstance(value, bool | str):
        return m.FieldCondition(key=key, match=m.MatchValue(value=value))
    # A range pins numbers of either JSON type (1 == 1.0) and never matches a boolean.
    return m.FieldCondition(key=key, range=m.Range(gte=value, lte=value))


def _condition(cond: Condition) -> Any:
    from qdrant_client import models as m

    key = f"{METADATA_KEY}.{cond.key}"
    op, value = cond.op, cond.value
    if op == "$exists":
        # Qdrant's "empty" is missing, null or []; null counts as present for us.
        missing = m.Filter(
            must=[m.IsEmptyCondition(is_empty=m.PayloadField(key=key))],
            must_not=[m.IsNullCondition(is_null=m.PayloadField(key=key))],
        )
        return m.Filter(must_not=[missing]) if value else missing
    if op == "$eq":
        return m.Filter(must=[_equals(key, value)])
    if op == "$ne":
        return m.Filter(must_not=[_equals(key, value)])
    if op == "$in":
        return m.Filter(should=[_equals(key, v) for v in value])
    if op == "$nin":
        return m.Filter(must_not=[_equals(key, v) for v in value])
    bounds = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}
    return m.Filter(must=[m.FieldCondition(key=key, range=m.Range(**{bounds[op]: value}))])


# -- errors ------------------------------------------------------------------------------


def map_errors(secret: str | None = None) -> AbstractContextManager[None]:
    """Turn qdrant-client's, httpx's and grpc's exceptions into ours; most specific first."""
    return translating_errors(_translate, secret)


def _from_status(
    status: int | None, message: str, retry_after: float | None = None
) -> errors.VectraError:
    if status in (401, 403):
        return errors.AuthenticationError(message)
    if status == 404:
        return errors.NotFoundError(message)
    if status == 429:
        return errors.RateLimitError(message, retry_after=retry_after)
    if status in (400, 409, 413, 422):
        return errors.ValidationError(message)
    if status == 408:
        return errors.TimeoutError(message)
    if status is not None and status >= 500:
        return errors.ServerError(message, status_code=status)
    return errors.VectraError(message)


def _retry_after(headers: Any) -> float | None:
    try:
        value = float(headers.get("retry-after"))
    except (AttributeError, TypeError, ValueError):
        return None
    return value if value >= 0 else None


def _grpc_error(exc: Exception, message: str) -> errors.VectraError | None:
    code = getattr(getattr(exc, "code", lambda: None)(), "name", None)
    table = {
        "NOT_FOUND": errors.NotFoundError,
        "UNAUTHENTICATED": errors.AuthenticationError,
        "PERMISSION_DENIED": errors.AuthenticationError,
        "INVALID_ARGUMENT": errors.ValidationError,
        "ALREADY_EXISTS": errors.ValidationError,
        "DEADLINE_EXCEEDED": errors.TimeoutError,
        "UNAVAILABLE": errors.ConnectionError,
    }
    if code == "RESOURCE_EXHAUSTED":
        return errors.RateLimitError(message)
    if code in ("INTERNAL", "UNKNOWN", "DATA_LOSS"):
        return errors.ServerError(message)
    return table[code](message) if code in table else None


def _translate(exc: Exception) -> errors.VectraError | None:
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    message = f"Qdrant: {exc}"
    try:
        from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
    except ImportError:  # pragma: no cover - older qdrant-client
        ResourceExhaustedResponse = ()
    if isinstance(exc, ResourceExhaustedResponse):
        return errors.RateLimitError(message, retry_after=float(exc.retry_after_s))
    if isinstance(exc, UnexpectedResponse):
        detail = exc.content.decode(errors="replace")[:300] if exc.content else exc.reason_phrase
        return _from_status(
            exc.status_code, f"Qdrant: HTTP {exc.status_code}: {detail}", _retry_after(exc.headers)
        )
    if isinstance(exc, ResponseHandlingException):
        source = exc.source
        if isinstance(source, httpx.TimeoutException | TimeoutError):
            return errors.TimeoutError(f"Qdrant: {source!r}")
        if isinstance(source, httpx.TransportError | OSError):
            return errors.ConnectionError(f"Qdrant: {source!r}")
        return errors.ServerError(f"Qdrant: unreadable response: {source!r}")
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return errors.TimeoutError(message)
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return errors.ConnectionError(message)
    if type(exc).__module__.startswith("grpc"):
        return _grpc_error(exc, message)
    # The in-process mode raises plain exceptions with the server's wording; only those
    # raised inside qdrant-client are its answers (ours would be bugs, left as they are).
    if not _raised_in_qdrant_client(exc):
        return None
    if isinstance(exc, KeyError):
        return errors.NotFoundError(f"Qdrant: point {exc.args[0] if exc.args else ''} not found")
    if isinstance(exc, ValueError):
        if "not found" in str(exc).lower():
            return errors.NotFoundError(message)
        return errors.ValidationError(message)
    return None


def _raised_in_qdrant_client(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "qdrant_client" in tb.tb_frame.f_code.co_filename
