"""The HTTP side of the fake: a ThreadingHTTPServer on 127.0.0.1 speaking Pinecone's REST API.

Control plane, as the SDK's 2026-07 API calls it::

    GET /indexes   POST /indexes   GET /indexes/{name}   DELETE /indexes/{name}

Data plane, under each index's host (``http://127.0.0.1:PORT/hosts/<name>-<token>``)::

    POST /vectors/upsert   POST /query   GET /vectors/fetch   POST /vectors/update
    POST /vectors/delete   POST /describe_index_stats   GET /vectors/list

Errors use Pinecone's bodies: ``{"error": {"code", "message"}, "status"}`` on the control
plane and ``{"code", "message", "details"}`` on the data plane.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from . import semantics

MAX_UPSERT_VECTORS = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_TOP_K = 10_000
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 100
DEFAULT_NAMESPACE = "__default__"
_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,43}[a-z0-9])?$")
# gRPC status codes that the data plane reports in its error bodies.
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 413: 3, 429: 8, 500: 13, 503: 14}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it (the API key is never recorded)."""

    method: str
    path: str
    index: str | None
    body_bytes: int
    vector_count: int = 0


@dataclass
class _Index:
    name: str
    dimension: int
    metric: str
    cloud: str
    region: str
    token: str
    describes_until_ready: int
    # namespace -> id -> (values, metadata)
    namespaces: dict[str, dict[str, tuple[np.ndarray, dict[str, Any]]]] = field(
        default_factory=dict
    )


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: str | None
    matches: Callable[[str, str], bool]


class _Reply(Exception):
    """Raised inside a handler to answer with an error."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or HTTPStatus(status).name


class FakePinecone:
    """Start with :meth:`start`; ``url`` is the control-plane host to give the SDK."""

    def __init__(
        self, api_key: str = "fake-pinecone-key", *, describes_until_ready: int = 0
    ) -> None:
        self.api_key = api_key
        self.describes_until_ready = describes_until_ready
        self.requests: list[RecordedRequest] = []
        self._indexes: dict[str, _Index] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakePinecone:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-pinecone", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "call start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakePinecone:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- test hooks ----------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        retry_after: float | str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (429, 500, 503...)."""

        def matches(req_method: str, req_path: str) -> bool:
            return (method is None or req_method == method) and (
                path is None or req_path.endswith(path)
            )

        with self._lock:
            self._faults.append(
                _Fault(status, times, None if retry_after is None else str(retry_after), matches)
            )

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many recorded requests match ``method`` and end with ``path``."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method)
                and (path is None or r.path.endswith(path))
            )

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._indexes.clear()

    def index_names(self) -> list[str]:
        with self._lock:
            return sorted(self._indexes)

    # -- request handling (called from handler threads) ----------------------------------

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
        return None

    def _host_of(self, idx: _Index) -> str:
        return f"{self.url}/hosts/{idx.name}-{idx.token}"

    def _model(self, idx: _Index) -> dict[str, Any]:
        ready = idx.describes_until_ready <= 0
        return {
            "name": idx.name,
            "host": self._host_of(idx),
            "status": {"ready": ready, "state": "Ready" if ready else "Initializing"},
            "schema": {
                "fields": {
                    "_values": {
                        "type": "dense_vector",
                        "dimension": idx.dimension,
                        "metric": idx.metric,
                    }
                }
            },
            "deployment": {
                "deployment_type": "managed",
                "cloud": idx.cloud,
                "region": idx.region,
                "environment": f"{idx.region}-fake",
            },
            "read_capacity": {"mode": "OnDemand", "status": {"state": "Ready"}},
            "deletion_protection": "disabled",
            "tags": None,
        }

    def control(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if path == "/indexes" and method == "GET":
            with self._lock:
                return 200, {"indexes": [self._model(i) for i in self._indexes.values()]}
        if path == "/indexes" and method == "POST":
            return self._create(body)
        match = re.fullmatch(r"/indexes/([^/]+)", path)
        if match is None:
            raise _Reply(404, f"Not found: {path}")
        name = match.group(1)
        with self._lock:
            idx = self._indexes.get(name)
            if idx is None:
                raise _Reply(404, f"Resource {name} not found", "NOT_FOUND")
            if method == "GET":
                model = self._model(idx)
                idx.describes_until_ready -= 1
                return 200, model
            if method == "DELETE":
                del self._indexes[name]
                return 202, None
        raise _Reply(405, f"Method {method} not allowed on {path}")

    def _create(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise _Reply(400, "Request body must be a JSON object", "INVALID_ARGUMENT")
        name = body.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise _Reply(
                400,
                "Name must consist of lower case alphanumeric characters or '-', "
                "and be at most 45 characters",
                "INVALID_ARGUMENT",
            )
        fields = (body.get("schema") or {}).get("fields") or {}
        dense = fields.get("_values") or {}
        dimension, metric = dense.get("dimension"), dense.get("metric", "cosine")
        if (
            dense.get("type") != "dense_vector"
            or not isinstance(dimension, int)
            or not 1 <= dimension <= 20000
        ):
            raise _Reply(
                400,
                "schema must declare a dense_vector field '_values' with a dimension",
                "INVALID_ARGUMENT",
            )
        if metric not in ("cosine", "euclidean", "dotproduct"):
            raise _Reply(400, f"Invalid metric {metric!r}", "INVALID_ARGUMENT")
        deployment = body.get("deployment") or {"cloud": "aws", "region": "us-east-1"}
        with self._lock:
            if name in self._indexes:
                raise _Reply(409, f"Resource {name} already exists", "ALREADY_EXISTS")
            idx = _Index(
                name=name,
                dimension=dimension,
                metric=metric,
                cloud=deployment.get("cloud", "aws"),
                region=deployment.get("region", "us-east-1"),
                token=secrets.token_hex(4),
                describes_until_ready=self.describes_until_ready,
            )
            self._indexes[name] = idx
            return 201, self._model(idx)

    def data_index(self, host_part: str) -> _Index:
        with self._lock:
            for idx in self._indexes.values():
                if f"{idx.name}-{idx.token}" == host_part:
                    return idx
        raise _Reply(404, "Index not found for this host")

    def data(
        self, idx: _Index, method: str, path: str, body: Any, query: dict[str, list[str]]
    ) -> tuple[int, Any]:
        with self._lock:
            if (method, path) == ("POST", "/vectors/upsert"):
                return 200, self._upsert(idx, body)
            if (method, path) == ("POST", "/query"):
                return 200, self._query(idx, body)
            if (method, path) == ("GET", "/vectors/fetch"):
                return 200, self._fetch(idx, query)
            if (method, path) == ("GET", "/vectors/list"):
                return 200, self._list(idx, query)
            if (method, path) == ("POST", "/vectors/update"):
                return 200, self._update(idx, body)
            if (method, path) == ("POST", "/vectors/delete"):
                return 200, self._delete(idx, body)
            if (method, path) == ("POST", "/describe_index_stats"):
                return 200, self._stats(idx, body)
        raise _Reply(404, f"Not found: {method} {path}")

    @staticmethod
    def _namespace(body: dict[str, Any]) -> str:
        ns = body.get("namespace") or ""
        return "" if ns == DEFAULT_NAMESPACE else ns

    def _vector(self, idx: _Index, values: Any) -> np.ndarray:
        if not isinstance(values, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            raise _Reply(400, "Vector values must be an array of numbers", "INVALID_ARGUMENT")
        if len(values) != idx.dimension:
            raise _Reply(
                400,
                f"Vector dimension {len(values)} does not match "
                f"the dimension of the index {idx.dimension}",
                "INVALID_ARGUMENT",
            )
        return np.asarray(values, dtype=np.float32)

    def _upsert(self, idx: _Index, body: Any) -> dict[str, Any]:
        vectors = body.get("vectors") if isinstance(body, dict) else None
        if not isinstance(vectors, list) or not vectors:
            raise _Reply(400, "vectors must be a non-empty array", "INVALID_ARGUMENT")
        if len(vectors) > MAX_UPSERT_VECTORS:
            raise _Reply(
                400,
                f"Upsert request contains {len(vectors)} vectors; "
                f"the maximum is {MAX_UPSERT_VECTORS}",
                "INVALID_ARGUMENT",
            )
        rows = []
        for item in vectors:
            vid = item.get("id") if isinstance(item, dict) else None
            if not isinstance(vid, str) or not 1 <= len(vid) <= 512 or not vid.isascii():
                raise _Reply(
                    400, "Each vector needs an id of 1-512 ASCII characters", "INVALID_ARGUMENT"
                )
            meta = item.get("metadata")
            if meta is not None and semantics.metadata_bytes(meta) > semantics.MAX_METADATA_BYTES:
                raise _Reply(
                    400,
                    f"Metadata size exceeds the limit of 40960 bytes for id '{vid}'",
                    "INVALID_ARGUMENT",
                )
            try:
                stored = semantics.store_metadata(meta)
            except semantics.FilterError as exc:
                raise _Reply(400, str(exc), "INVALID_ARGUMENT") from None
            values = self._vector(idx, item.get("values"))
            if not values.any():  # Pinecone's documented limit, for every metric
                raise _Reply(
                    400,
                    "Dense vectors must contain at least one non-zero value. "
                    f"Vector ID '{vid}' contains only zeros",
                    "INVALID_ARGUMENT",
                )
            rows.append((vid, values, stored))
        space = idx.namespaces.setdefault(self._namespace(body), {})
        for vid, values, meta in rows:
            space[vid] = (values, meta)
        return {"upsertedCount": len(rows)}

    @staticmethod
    def _filter(body: dict[str, Any]) -> dict[str, Any] | None:
        spec = body.get("filter")
        if spec is None:
            return None
        try:
            semantics.check_filter(spec)
        except semantics.FilterError as exc:
            raise _Reply(400, f"Invalid filter: {exc}", "INVALID_ARGUMENT") from None
        return spec

    def _query(self, idx: _Index, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _Reply(400, "Request body must be a JSON object", "INVALID_ARGUMENT")
        top_k = body.get("topK")
        if not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise _Reply(400, f"topK must be between 1 and {MAX_TOP_K}", "INVALID_ARGUMENT")
        ns = self._namespace(body)
        space = idx.namespaces.get(ns, {})
        if "id" in body:
            if body["id"] not in space:
                raise _Reply(
                    400, f"No vector with id '{body['id']}' in namespace", "INVALID_ARGUMENT"
                )
            vector = space[body["id"]][0]
        else:
            vector = self._vector(idx, body.get("vector"))
        spec = self._filter(body)
        rows = [(vid, v, m) for vid, (v, m) in space.items() if semantics.matches(spec, m)]
        matches: list[dict[str, Any]] = []
        if rows:
            raw = semantics.scores(
                idx.metric,
                np.stack([r[1] for r in rows]).astype(np.float64),
                vector.astype(np.float64),
            )
            order = np.argsort(raw if idx.metric == "euclidean" else -raw, kind="stable")[:top_k]
            for i in order:
                vid, values, meta = rows[i]
                match: dict[str, Any] = {"id": vid, "score": float(raw[i]), "values": []}
                if body.get("includeValues"):
                    match["values"] = [float(x) for x in values]
                if body.get("includeMetadata"):
                    match["metadata"] = dict(meta)
                matches.append(match)
        return {"matches": matches, "namespace": ns, "usage": {"readUnits": 1}}

    def _fetch(self, idx: _Index, query: dict[str, list[str]]) -> dict[str, Any]:
        ids = query.get("ids") or []
        if not ids:
            raise _Reply(400, "ids must be provided", "INVALID_ARGUMENT")
        ns = (query.get("namespace") or [""])[0]
        ns = "" if ns == DEFAULT_NAMESPACE else ns
        space = idx.namespaces.get(ns, {})
        vectors = {
            vid: {
                "id": vid,
                "values": [float(x) for x in space[vid][0]],
                "metadata": dict(space[vid][1]),
            }
            for vid in ids
            if vid in space
        }
        return {"vectors": vectors, "namespace": ns, "usage": {"readUnits": 1}}

    def _list(self, idx: _Index, query: dict[str, list[str]]) -> dict[str, Any]:
        """Sorted ids (bitwise order), ``limit`` a page; the token says where to resume."""
        ns = (query.get("namespace") or [""])[0]
        ns = "" if ns == DEFAULT_NAMESPACE else ns
        prefix = (query.get("prefix") or [""])[0]
        raw_limit = (query.get("limit") or [str(DEFAULT_LIST_LIMIT)])[0]
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIST_LIMIT:
            raise _Reply(400, f"limit must be between 1 and {MAX_LIST_LIMIT}", "INVALID_ARGUMENT")
        limit = int(raw_limit)
        token = (query.get("paginationToken") or [None])[0]
        skip_past = None if token is None else _read_token(token)
        ids = sorted(
            (vid for vid in idx.namespaces.get(ns, {}) if vid.startswith(prefix)),
            key=lambda vid: vid.encode(),
        )
        if skip_past is not None:
            ids = [vid for vid in ids if vid.encode() > skip_past.encode()]
        page = ids[:limit]
        response: dict[str, Any] = {
            "vectors": [{"id": vid} for vid in page],
            "namespace": ns,
            "usage": {"readUnits": 1},
        }
        if len(ids) > limit:
            response["pagination"] = {"next": _make_token(page[-1], prefix)}
        return response

    def _update(self, idx: _Index, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise _Reply(400, "id must be provided", "INVALID_ARGUMENT")
        space = idx.namespaces.get(self._namespace(body), {})
        current = space.get(body["id"])
        if current is None:
            # Pinecone answers an update of an absent id with success and changes nothing.
            return {}
        values, meta = current
        if body.get("values") is not None:
            values = self._vector(idx, body["values"])
        if body.get("setMetadata") is not None:
            try:
                meta = {**meta, **semantics.store_metadata(body["setMetadata"])}
            except semantics.FilterError as exc:
                raise _Reply(400, str(exc), "INVALID_ARGUMENT") from None
            if semantics.metadata_bytes(meta) > semantics.MAX_METADATA_BYTES:
                # The limit holds for the merged record, as on upsert.
                raise _Reply(
                    400,
                    f"Metadata size exceeds the limit of 40960 bytes for id '{body['id']}'",
                    "INVALID_ARGUMENT",
                )
        space[body["id"]] = (values, meta)
        return {}

    def _delete(self, idx: _Index, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _Reply(400, "Request body must be a JSON object", "INVALID_ARGUMENT")
        ns = self._namespace(body)
        selectors = [
            body.get("ids") is not None,
            bool(body.get("deleteAll")),
            body.get("filter") is not None,
        ]
        if sum(selectors) != 1:
            raise _Reply(
                400, "Exactly one of ids, deleteAll or filter is required", "INVALID_ARGUMENT"
            )
        if ns not in idx.namespaces:
            raise _Reply(404, "Namespace not found", "NOT_FOUND")
        space = idx.namespaces[ns]
        if body.get("deleteAll"):
            space.clear()
        elif body.get("ids") is not None:
            for vid in body["ids"]:
                space.pop(vid, None)
        else:
            spec = self._filter(body)
            for vid in [vid for vid, (_, m) in space.items() if semantics.matches(spec, m)]:
                del space[vid]
        return {}

    def _stats(self, idx: _Index, body: Any) -> dict[str, Any]:
        if isinstance(body, dict) and body.get("filter"):
            raise _Reply(
                400,
                "Serverless indexes do not support describing index stats with metadata filtering",
                "INVALID_ARGUMENT",
            )
        namespaces = {
            (ns or DEFAULT_NAMESPACE): {"vectorCount": len(rows)}
            for ns, rows in idx.namespaces.items()
        }
        return {
            "namespaces": namespaces,
            "dimension": idx.dimension,
            "indexFullness": 0.0,
            "totalVectorCount": sum(len(rows) for rows in idx.namespaces.values()),
            "metric": idx.metric,
            "vectorType": "dense",
        }


def _make_token(skip_past: str, prefix: str) -> str:
    """A pagination token shaped like Pinecone's: base64 JSON naming the last id returned."""
    return base64.b64encode(
        json.dumps({"skip_past": skip_past, "prefix": prefix}).encode()
    ).decode()


def _read_token(token: str) -> str:
    try:
        skip_past = json.loads(base64.b64decode(token, validate=True))["skip_past"]
    except (ValueError, KeyError, TypeError):
        raise _Reply(400, "Invalid pagination token", "INVALID_ARGUMENT") from None
    if not isinstance(skip_past, str):
        raise _Reply(400, "Invalid pagination token", "INVALID_ARGUMENT")
    return skip_past


class _Handler(BaseHTTPRequestHandler):
    fake: FakePinecone
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without this, Nagle's algorithm and delayed
        # ACKs add ~40 ms to every response on a kept-alive connection.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; tests read ``FakePinecone.requests`` instead."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, index_part = url.path, None
        data_match = re.fullmatch(r"/hosts/([^/]+)(/.*)", path)
        if data_match:
            index_part, path = data_match.group(1), data_match.group(2)
        body: Any = None
        vector_count = 0
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = ...
        if isinstance(body, dict) and isinstance(body.get("vectors"), list):
            vector_count = len(body["vectors"])
        with self.fake._lock:
            self.fake.requests.append(
                RecordedRequest(
                    method,
                    path,
                    index_part.rsplit("-", 1)[0] if index_part else None,
                    len(raw),
                    vector_count,
                )
            )
        data_plane = index_part is not None
        fault = self.fake._take_fault(method, path)
        if fault is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            message = (
                "Too many requests"
                if fault.status == 429
                else "The service is temporarily unavailable"
            )
            return self._error(_Reply(fault.status, message), data_plane, headers)
        if self.headers.get("Api-Key") != self.fake.api_key:
            return self._error(_Reply(401, "Invalid API Key", "UNAUTHENTICATED"), data_plane)
        if not self.headers.get("X-Pinecone-Api-Version"):
            return self._error(
                _Reply(400, "Missing X-Pinecone-Api-Version header", "INVALID_ARGUMENT"), data_plane
            )
        if body is ...:
            return self._error(
                _Reply(400, "Request body is not valid JSON", "INVALID_ARGUMENT"), data_plane
            )
        if len(raw) > MAX_REQUEST_BYTES:
            return self._error(
                _Reply(
                    413,
                    f"Request size {len(raw)} bytes exceeds "
                    f"the maximum supported size of {MAX_REQUEST_BYTES} bytes",
                ),
                data_plane,
            )
        try:
            if data_plane:
                idx = self.fake.data_index(index_part)  # type: ignore[arg-type]
                status, payload = self.fake.data(idx, method, path, body, parse_qs(url.query))
            else:
                status, payload = self.fake.control(method, path, body)
        except _Reply as reply:
            return self._error(reply, data_plane)
        self._send(status, payload)

    def _error(
        self, reply: _Reply, data_plane: bool, headers: dict[str, str] | None = None
    ) -> None:
        if data_plane:
            payload: Any = {
                "code": _GRPC_CODES.get(reply.status, 2),
                "message": reply.message,
                "details": [],
            }
        else:
            payload = {
                "error": {"code": reply.code, "message": reply.message},
                "status": reply.status,
            }
        self._send(reply.status, payload, headers)

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
