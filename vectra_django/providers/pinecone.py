"""Pinecone, through the official ``pinecone`` SDK (``pip install "vectra-django[pinecone]"``).

The control plane (``HOST``, Pinecone's own by default) creates, describes, lists and
deletes serverless indexes; each index's data-plane host comes from describe and is cached,
so only the first operation on an index pays for the lookup.

Semantics kept equal to every other provider:

- Scores: Pinecone reports cosine similarity and the dot product as we do, and the
  *squared* L2 distance for euclidean; we take its square root, so ``Match.distance`` is the
  L2 distance and ``score = 1 / (1 + distance)``.
- Filters are compiled to Pinecone's Mongo-style dialect with our meaning spelled out:
  ``$ne``/``$nin`` become "missing, or different" (Pinecone leaves the missing case
  undocumented), booleans in ``$in``/``$nin`` become ``$eq``/``$ne`` (Pinecone's ``$in``
  takes strings and numbers only). Pinecone stores numbers as 64-bit floats, so ``1`` and
  ``1.0`` are equal there as here, and numbers come back as floats.
- One retry policy: the SDK's own retries are switched off so the client's ``MAX_RETRIES``
  and ``Retry-After`` handling are the only ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, ClassVar, TypeVar

import numpy as np

from .. import errors
from ..filters import And, Condition, Node, Or
from ..metrics import Metric
from ..types import Match, QueryResult, Vector
from ..validation import Batch
from .base import (
    BaseProvider,
    IdPage,
    QueryRequest,
    scrub,
    stats_result,
    translating_errors,
)

logger = logging.getLogger("vectra_django.providers.pinecone")

T = TypeVar("T")

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


class PineconeProvider(BaseProvider):
    """Pinecone serverless indexes; data-plane hosts resolved once per index and cached."""

    name: ClassVar[str] = "pinecone"
    default_batch_size: ClassVar[int] = 100

    def __init__(
        self,
        api_key: str | None = None,
        host: str | None = None,
        *,
        timeout: float | None = 30.0,
        cloud: str = "aws",
        region: str = "us-east-1",
        pool_size: int | None = None,
        pool_threads: int | None = None,
        pool_timeout: float | None = None,
        ssl_verify: bool = True,
        source_tag: str | None = None,
        ready_timeout: float = 300.0,
        poll_interval: float = 0.5,
    ) -> None:
        self._api_key = api_key
        self.host = host
        self.timeout = 30.0 if timeout is None else float(timeout)
        self.cloud = cloud
        self.region = region
        self.pool_size = pool_size
        self.pool_threads = pool_threads
        self.ssl_verify = ssl_verify
        self.source_tag = source_tag
        self.ready_timeout = float(ready_timeout)
        self.poll_interval = float(poll_interval)
        self._pc: Any = None
        self._hosts: dict[str, str] = {}
        self._data: dict[str, Any] = {}
        self._metrics: dict[str, Metric] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<PineconeProvider host={self.host or 'default'!r}>"

    @classmethod
    def default_index_name(cls, name: str) -> str:
        """Pinecone index names are lowercase letters, digits and ``-``, at most 45 long."""
        legal = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "index"
        if len(legal) <= MAX_INDEX_NAME:
            return legal
        digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
        return f"{legal[: MAX_INDEX_NAME - 9].rstrip('-')}-{digest}"

    # -- SDK plumbing --------------------------------------------------------------------

    def map_errors(self) -> Any:
        return map_errors(self._api_key)

    def _control(self) -> Any:
        with self._lock:
            if self._pc is None:
                try:
                    import pinecone
                except ImportError as exc:
                    raise errors.ConfigurationError(
                        "The pinecone provider needs the Pinecone SDK: "
                        'pip install "vectra-django[pinecone]".'
                    ) from exc
                kwargs: dict[str, Any] = {
                    "api_key": self._api_key,
                    "host": self.host,
                    "timeout": self.timeout,
                    "ssl_verify": self.ssl_verify,
                    "source_tag": self.source_tag or "vectra_django",
                    "retry_config": pinecone.RetryConfig(max_retries=0),
                }
                if self.pool_size:
                    kwargs["connection_pool_maxsize"] = int(self.pool_size)
                if self.pool_threads:
                    kwargs["pool_threads"] = int(self.pool_threads)
                with self.map_errors():
                    try:
                        self._pc = pinecone.Pinecone(**kwargs)
                    except pinecone.PineconeValueError as exc:
                        raise errors.ConfigurationError(
                            f"Pinecone is not configured: {scrub(str(exc), self._api_key)}"
                        ) from exc
            return self._pc

    def _index(self, name: str) -> Any:
        """The SDK's data-plane client for ``name``, built from the cached host."""
        with self._lock:
            client = self._data.get(name)
            if client is not None:
                return client
            host = self._hosts.get(name)
        if host is None:
            self.describe_index(name)
            host = self._hosts[name]
        with self._lock, self.map_errors():
            client = self._data.get(name)
            if client is None:
                client = self._control().index(host=host)
                _single_attempt(client)
                self._data[name] = client
            return client

    def _forget(self, name: str) -> None:
        with self._lock:
            self._hosts.pop(name, None)
            self._metrics.pop(name, None)
            client = self._data.pop(name, None)
        if client is not None:
            client.close()

    def _on_index(self, name: str, fn: Callable[[Any], T]) -> T:
        """Run ``fn(index_client)``; a 404 from the data plane drops the cached host."""
        client = self._index(name)
        try:
            with self.map_errors():
                return fn(client)
        except errors.NotFoundError:
            self._forget(name)
            raise

    def on_retry(self, exc: BaseException) -> None:
        """After a lost connection, retry on fresh data-plane clients (hosts stay cached)."""
        if isinstance(exc, errors.ConnectionError):
            with self._lock:
                stale, self._data = list(self._data.values()), {}
            for client in stale:
                client.close()

    # -- indexes -------------------------------------------------------------------------

    def create_index(
        self, name: str, dimension: int, metric: Metric, options: Mapping[str, Any]
    ) -> None:
        options = dict(options)
        deployment = {
            "deployment_type": "managed",
            "cloud": options.pop("cloud", self.cloud),
            "region": options.pop("region", self.region),
        }
        extra = {k: options.pop(k) for k in ("deletion_protection", "tags") if k in options}
        if options:
            raise errors.ValidationError(f"Unknown Pinecone index options: {sorted(options)}.")
        pc = self._control()
        from pinecone.errors.exceptions import ConflictError

        try:
            with self.map_errors():
                try:
                    pc.indexes.create(
                        name=name,
                        schema={
                            "fields": {
                                DENSE_FIELD: {
                                    "type": "dense_vector",
                                    "dimension": dimension,
                                    "metric": metric,
                                }
                            }
                        },
                        deployment=deployment,
                        timeout=-1,
                        **extra,
                    )
                except ConflictError:
                    existing = self.describe_index(name)
                    if (existing["dimension"], existing["metric"]) != (dimension, metric):
                        raise errors.ValidationError(
                            f"Index {name!r} already exists with dimension {existing['dimension']} "
                            f"and metric {existing['metric']!r}."
                        ) from None
        finally:
            self._forget(name)
        self._wait(name, lambda d: d is not None and d["ready"], "to become ready")

    def _wait(self, name: str, done: Callable[[dict[str, Any] | None], bool], what: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                description: dict[str, Any] | None = self.describe_index(name)
            except errors.NotFoundError:
                description = None
            if done(description):
                return
            if time.monotonic() >= deadline:
                raise errors.TimeoutError(
                    f"Pinecone index {name!r} did not {what.removeprefix('to ')} "
                    f"within {self.ready_timeout:g}s."
                )
            time.sleep(self.poll_interval)

    def delete_index(self, name: str) -> None:
        pc = self._control()
        try:
            with self.map_errors():
                pc.indexes.delete(name, timeout=-1)
        finally:
            self._forget(name)
        self._wait(name, lambda d: d is None, "to disappear")

    def list_indexes(self) -> list[str]:
        pc = self._control()
        with self.map_errors():
            return sorted(model.name for model in pc.indexes.list())

    def describe_index(self, name: str) -> dict[str, Any]:
        pc = self._control()
        with self.map_errors():
            model = pc.indexes.describe(name)
        dense = getattr(model.schema, "fields", {}).get(DENSE_FIELD)
        if dense is None:
            raise errors.UnsupportedFeatureError(
                self.name,
                f"index {name!r}, which has no dense '{DENSE_FIELD}' field (a document index)",
            )
        if model.host:
            with self._lock:
                if self._hosts.get(name) != model.host:
                    self._hosts[name] = model.host
                    stale = self._data.pop(name, None)
                    if stale is not None:
                        stale.close()
        metric = str(dense.metric).lower()
        with self._lock:
            self._metrics[name] = metric  # type: ignore[assignment]
        deployment = model.deployment
        return {
            "name": model.name,
            "dimension": int(dense.dimension),
            "metric": metric,
            "host": model.host,
            "ready": bool(model.status.ready),
            "state": model.status.state,
            "cloud": getattr(deployment, "cloud", None),
            "region": getattr(deployment, "region", None),
        }

    def stats(self, name: str) -> dict[str, Any]:
        response = self._on_index(name, lambda idx: idx.describe_index_stats())
        counts: dict[str, int] = {}
        for ns, summary in (response.namespaces or {}).items():
            key = "" if ns == DEFAULT_NAMESPACE_ALIAS else ns
            counts[key] = counts.get(key, 0) + int(summary.vector_count)
        dimension = response.dimension or self.describe_index(name)["dimension"]
        return stats_result(counts, dimension)

    # -- vectors -------------------------------------------------------------------------

    def validate_batch(self, batch: Batch) -> None:
        """Pinecone's per-record limits, checked on the whole batch before any request."""
        for vid, meta in zip(batch.ids, batch.metadata, strict=True):
            _check_id(vid)
            if meta:
                _check_metadata(vid, meta)

    def upsert(self, index: str, batch: Batch, namespace: str) -> int:
        records = [
            _record(vid, values, meta)
            for vid, values, meta in zip(batch.ids, batch.values, batch.metadata, strict=True)
        ]
        written = 0
        for chunk in _request_chunks(records):
            self._on_index(
                index,
                lambda idx, chunk=chunk: idx.upsert(vectors=chunk, namespace=namespace),  # type: ignore[misc]
            )
            written += len(chunk)
        return written

    def query(self, index: str, request: QueryRequest) -> QueryResult:
        metric = self._metric(index)
        kwargs: dict[str, Any] = {
            "top_k": request.top_k,
            "vector": request.vector.astype(float).tolist(),
            "namespace": request.namespace,
            "include_values": request.include_values,
            "include_metadata": request.include_metadata,
        }
        if request.filter is not None:
            kwargs["filter"] = compile_filter(request.filter)
        response = self._on_index(index, lambda idx: idx.query(**kwargs))
        matches = []
        for hit in response.matches:
            score, distance = _convert_score(metric, float(hit.score))
            if request.score_threshold is not None and score < request.score_threshold:
                continue
            matches.append(
                Match(
                    id=hit.id,
                    score=score,
                    distance=distance,
                    values=list(hit.values) if request.include_values else None,
                    metadata=dict(hit.metadata or {}) if request.include_metadata else None,
                )
            )
        return QueryResult(matches, index=index, namespace=request.namespace)

    def _metric(self, index: str) -> Metric:
        with self._lock:
            cached = self._metrics.get(index)
        return cached if cached is not None else self.describe_index(index)["metric"]

    def fetch(self, index: str, ids: list[str], namespace: str) -> dict[str, Vector]:
        found: dict[str, Vector] = {}
        for start in range(0, len(ids), MAX_FETCH_IDS):
            part = ids[start : start + MAX_FETCH_IDS]
            response = self._on_index(
                index, lambda idx, part=part: idx.fetch(ids=part, namespace=namespace)
            )  # type: ignore[misc]
            for vid, vec in response.vectors.items():
                found[vid] = Vector(vid, list(vec.values), dict(vec.metadata or {}), namespace)
        return {vid: found[vid] for vid in ids if vid in found}

    def update(
        self,
        index: str,
        id: str,
        namespace: str,
        values: np.ndarray | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        # Pinecone acknowledges an update of an absent id and changes nothing; look first.
        if id not in self.fetch(index, [id], namespace):
            raise errors.NotFoundError(f"Vector {id!r} does not exist in index {index!r}.")
        kwargs: dict[str, Any] = {"id": id, "namespace": namespace}
        if values is not None:
            kwargs["values"] = values.astype(float).tolist()
        if metadata:
            _check_metadata(id, metadata)
            kwargs["set_metadata"] = metadata
        if len(kwargs) > 2:
            self._on_index(index, lambda idx: idx.update(**kwargs))

    def delete(
        self,
        index: str,
        namespace: str,
        ids: list[str] | None = None,
        filter: Node | None = None,
        delete_all: bool = False,
    ) -> int | None:
        if delete_all:
            calls: list[dict[str, Any]] = [{"delete_all": True}]
        elif ids is not None:
            unique = list(dict.fromkeys(ids))
            calls = [
                {"ids": unique[i : i + MAX_DELETE_IDS]}
                for i in range(0, len(unique), MAX_DELETE_IDS)
            ]
        else:
            calls = [{"filter": compile_filter(filter)}]
        for kwargs in calls:
            try:
                self._on_index(
                    index,
                    lambda idx, kwargs=kwargs: idx.delete(namespace=namespace, **kwargs),  # type: ignore[misc]
                )
            except errors.NotFoundError:
                # Pinecone answers 404 for a namespace that holds nothing yet: there is
                # nothing to delete, unless the index itself is gone (describe re-raises).
                self.describe_index(index)
                return None
        return None

    def list_ids(
        self,
        index: str,
        namespace: str,
        prefix: str = "",
        limit: int = 1000,
        cursor: str | None = None,
    ) -> IdPage:
        """``GET /vectors/list``: sorted ids, at most 100 a page, with Pinecone's own token."""
        if not prefix.isascii():
            self.describe_index(index)  # no Pinecone id has it; the index must still exist
            return IdPage([])
        kwargs: dict[str, Any] = {"namespace": namespace, "limit": min(limit, MAX_LIST_IDS)}
        if prefix:
            kwargs["prefix"] = prefix
        if cursor is not None:
            kwargs["pagination_token"] = cursor
        try:
            response = self._on_index(index, lambda idx: idx.list_paginated(**kwargs))
        except errors.NotFoundError:
            self.describe_index(index)  # a namespace never written to, unless the index is gone
            return IdPage([])
        token = response.pagination.next if response.pagination is not None else None
        return IdPage([item.id for item in response.vectors], token or None)

    def close(self) -> None:
        with self._lock:
            clients, self._data = list(self._data.values()), {}
            pc, self._pc = self._pc, None
        for client in clients:
            client.close()
        if pc is not None:
            pc.close()


# -- request shaping ---------------------------------------------------------------------


def _check_metadata(vid: str, metadata: Mapping[str, Any]) -> None:
    """Pinecone's metadata rules, checked before anything is sent."""
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
    size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise errors.ValidationError(
            f"Vector {vid!r}: metadata is {size} bytes of JSON; Pinecone allows at most "
            f"{MAX_METADATA_BYTES} bytes (40 KB) per vector."
        )


def _check_id(vid: str) -> None:
    """Pinecone ids are ASCII (the client already bounds the length and refuses NUL)."""
    if not vid.isascii() or len(vid) > MAX_ID_LENGTH:
        raise errors.ValidationError(
            f"Vector id {vid[:40]!r}: Pinecone ids are 1-{MAX_ID_LENGTH} ASCII characters."
        )


def _record(vid: str, values: np.ndarray, metadata: dict[str, Any]) -> dict[str, Any]:
    """One upsert record; :meth:`PineconeProvider.validate_batch` has checked it."""
    record: dict[str, Any] = {"id": vid, "values": values.astype(float).tolist()}
    if metadata:
        record["metadata"] = metadata
    return record


def _request_chunks(records: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
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


def _convert_score(metric: str, raw: float) -> tuple[float, float]:
    """Pinecone's score to ours, plus the raw distance in pgvector's conventions."""
    if metric == "euclidean":
        distance = math.sqrt(max(raw, 0.0))  # Pinecone reports the squared L2 distance
        return 1.0 / (1.0 + distance), distance
    if metric == "dotproduct":
        return raw, -raw
    return raw, 1.0 - raw


def _single_attempt(client: Any) -> None:
    """Turn off the SDK's data-plane retries, which its constructor gives no way to set.

    Two retry loops would multiply attempts and stack ``Retry-After`` waits; the client's
    policy is the one users configure. If the SDK's internals change, we keep its retries.
    """
    try:
        from pinecone import RetryConfig
        from pinecone._internal.http_client import HTTPClient

        config = dataclasses.replace(client._config, retry_config=RetryConfig(max_retries=0))
        old = client._http
        client._http = HTTPClient(config, old._headers["X-Pinecone-Api-Version"])
        old.close()
    except (ImportError, AttributeError, KeyError, TypeError) as exc:  # pragma: no cover
        logger.debug("Keeping the Pinecone SDK's own data-plane retries: %s", exc)


# -- filters -----------------------------------------------------------------------------


def compile_filter(node: Node | None) -> dict[str, Any] | None:
    """Our filter tree as a Pinecone filter with exactly our semantics."""
    if node is None:
        return None
    if isinstance(node, And):
        return {"$and": [compile_filter(child) for child in node.children]}
    if isinstance(node, Or):
        return {"$or": [compile_filter(child) for child in node.children]}
    return _condition(node)


def _either(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {"$or": parts}


def _both(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _condition(cond: Condition) -> dict[str, Any]:
    key, op, value = cond.key, cond.op, cond.value
    missing = {key: {"$exists": False}}
    if op == "$exists":
        return {key: {"$exists": value}}
    if op == "$eq":
        return {key: {"$eq": value}}
    if op == "$ne":
        return {"$or": [missing, {key: {"$ne": value}}]}
    if op == "$in":
        plain = [v for v in value if not isinstance(v, bool)]
        flags = [v for v in value if isinstance(v, bool)]
        parts = ([{key: {"$in": plain}}] if plain else []) + [{key: {"$eq": f}} for f in flags]
        return _either(parts)
    if op == "$nin":
        plain = [v for v in value if not isinstance(v, bool)]
        flags = [v for v in value if isinstance(v, bool)]
        parts = ([{key: {"$nin": plain}}] if plain else []) + [{key: {"$ne": f}} for f in flags]
        return {"$or": [missing, _both(parts)]}
    return {key: {op: value}}


# -- errors ------------------------------------------------------------------------------


def map_errors(secret: str | None = None) -> AbstractContextManager[None]:
    """Turn the SDK's and httpx's exceptions into ours; the most specific match wins."""
    return translating_errors(_translate, secret)


def _translate(exc: Exception) -> errors.VectraError | None:
    try:
        from pinecone.errors import exceptions as pe
    except ImportError:  # pragma: no cover - only reachable without the SDK
        pe = None
    import httpx

    if pe is not None and isinstance(exc, pe.PineconeError):
        message = f"Pinecone: {getattr(exc, 'message', None) or exc}"
        status = getattr(exc, "status_code", None)
        if isinstance(exc, pe.UnauthorizedError | pe.ForbiddenError):
            return errors.AuthenticationError(message)
        if isinstance(exc, pe.NotFoundError):
            return errors.NotFoundError(message)
        if isinstance(exc, pe.RateLimitError):
            return errors.RateLimitError(message, retry_after=exc.retry_after)
        if isinstance(exc, pe.ServiceError):
            return errors.ServerError(message, status_code=status)
        if isinstance(exc, pe.PayloadTooLargeError | pe.ConflictError):
            return errors.ValidationError(message)
        if isinstance(exc, pe.PineconeTimeoutError):
            return errors.TimeoutError(message)
        if isinstance(exc, pe.PineconeConnectionError):
            return errors.ConnectionError(message)
        if isinstance(exc, pe.PineconeValueError | pe.PineconeTypeError):
            return errors.ValidationError(message)
        if isinstance(exc, pe.ApiError):
            if status in (400, 422):
                return errors.ValidationError(message)
            if status == 408:
                return errors.TimeoutError(message)
            if status is not None and status >= 500:
                return errors.ServerError(message, status_code=status)
        return errors.VectraError(message)
    if isinstance(exc, httpx.TimeoutException):
        return errors.TimeoutError(f"Pinecone: {exc}")
    if isinstance(exc, httpx.TransportError):
        return errors.ConnectionError(f"Pinecone: {exc}")
    return None
