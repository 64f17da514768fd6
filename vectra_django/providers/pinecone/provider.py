"""Pinecone, through the official ``pinecone`` SDK (``pip install pinecone``, the extra).

The control plane (``HOST``) manages serverless indexes; each index's data-plane host comes
from describe and is cached. How scores, filters and retries are kept equal to the other
providers: docs/architecture.md.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

from ... import errors
from ...client.distance import Metric
from ...client.filters import Node
from ...client.requests import IdPage, QueryRequest
from ...client.results import Match, QueryResult, Vector
from ...client.validation import Batch
from ..base import BaseProvider, stats_result
from .errors import map_errors
from .filters import compile_filter
from .records import (
    DEFAULT_NAMESPACE_ALIAS,
    MAX_DELETE_IDS,
    MAX_FETCH_IDS,
    MAX_INDEX_NAME,
    MAX_LIST_IDS,
    check_batch,
    check_metadata,
    check_size,
    convert_score,
    dense_schema,
    record,
    request_chunks,
)
from .sdk import control_client, describe, single_attempt, wait_for
from .text import NoKeywordSearch, split_text

logger = logging.getLogger("vectra_django.providers.pinecone")

T = TypeVar("T")


class PineconeProvider(NoKeywordSearch, BaseProvider):
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
                self._pc = control_client(
                    api_key=self._api_key,
                    host=self.host,
                    timeout=self.timeout,
                    ssl_verify=self.ssl_verify,
                    source_tag=self.source_tag,
                    pool_size=self.pool_size,
                    pool_threads=self.pool_threads,
                )
            return self._pc

    def _index(self, name: str) -> Any:
        """The SDK's data-plane client for ``name``, built from the cached host."""
        with self._lock:
            client = self._data.get(name)
            if client is not None:
                return client
            host = self._hosts.get(name)
        if host is None:
            # The description's own: another thread may forget the cached host meanwhile.
            host = self.describe_index(name)["host"]
        with self._lock, self.map_errors():
            client = self._data.get(name)
            if client is None:
                client = self._control().index(host=host)
                single_attempt(client)
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
        """Run ``fn(index_client)``; a 404 from the data plane drops the cached host.

        Threads share the data-plane clients, and one that loses its connection or meets a
        404 closes them: if that happens to this client before ``fn`` sent its request (the
        SDK then raises ``RuntimeError``), ``fn`` runs again on a fresh client.
        """
        while True:
            client = self._index(name)
            try:
                with self.map_errors():
                    return fn(client)
            except errors.NotFoundError:
                self._forget(name)
                raise
            except RuntimeError:
                with self._lock:
                    if self._data.get(name) is client:
                        raise  # not closed by another thread: a real error

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
                        schema=dense_schema(dimension, metric),
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
        self._wait(name, lambda d: d is not None and d["ready"], "become ready")

    def _wait(self, name: str, done: Callable[[dict[str, Any] | None], bool], what: str) -> None:
        wait_for(self.describe_index, name, done, what, self.ready_timeout, self.poll_interval)

    def delete_index(self, name: str) -> None:
        pc = self._control()
        try:
            with self.map_errors():
                pc.indexes.delete(name, timeout=-1)
        finally:
            self._forget(name)
        self._wait(name, lambda d: d is None, "disappear")

    def list_indexes(self) -> list[str]:
        pc = self._control()
        with self.map_errors():
            return sorted(model.name for model in pc.indexes.list())

    def describe_index(self, name: str) -> dict[str, Any]:
        pc = self._control()
        with self.map_errors():
            model = pc.indexes.describe(name)
        description = describe(model)
        if model.host:
            with self._lock:
                if self._hosts.get(name) != model.host:
                    self._hosts[name] = model.host
                    stale = self._data.pop(name, None)
                    if stale is not None:
                        stale.close()
        with self._lock:
            self._metrics[name] = description["metric"]
        return description

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
        check_batch(batch)

    def upsert(self, index: str, batch: Batch, namespace: str) -> int:
        texts = batch.texts or [None] * len(batch)
        rows = zip(batch.ids, batch.values, batch.metadata, texts, strict=True)
        records = [record(vid, values, meta, text) for vid, values, meta, text in rows]
        written = 0
        for chunk in request_chunks(records):
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
            score, distance = convert_score(metric, float(hit.score))
            if request.score_threshold is not None and score < request.score_threshold:
                continue
            matches.append(
                Match(
                    id=hit.id,
                    score=score,
                    distance=distance,
                    values=list(hit.values) if request.include_values else None,
                    metadata=split_text(hit.metadata)[0] if request.include_metadata else None,
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
                metadata, text = split_text(vec.metadata)
                found[vid] = Vector(vid, list(vec.values), metadata, namespace, text)
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
        stored = self.fetch(index, [id], namespace).get(id)
        if stored is None:
            raise errors.NotFoundError(f"Vector {id!r} does not exist in index {index!r}.")
        kwargs: dict[str, Any] = {"id": id, "namespace": namespace}
        if values is not None:
            kwargs["values"] = values.astype(float).tolist()
        if metadata:
            check_metadata(id, metadata)
            check_size(id, {**stored.metadata, **metadata}, stored.text)  # as it will be stored
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
