"""The Qdrant provider on qdrant-client's in-process mode, plus its error mapping over HTTP."""

from __future__ import annotations

import json
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient, models

from vectra_django import Client
from vectra_django.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectionError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from vectra_django.providers.qdrant.payload import (
    ID_KEY,
    METADATA_KEY,
    NAMESPACE_KEY,
    POINT_ID_NAMESPACE,
    point_id,
)
from vectra_django.providers.qdrant.provider import QdrantProvider


@pytest.fixture
def client() -> Iterator[Client]:
    c = Client(provider="qdrant", location=":memory:", max_retries=0)
    c.create_index("docs", dimension=3, metric="cosine")
    yield c
    c.close()


def raw_payload(c: Client, namespace: str, vid: str) -> dict[str, Any]:
    qdrant = c.provider._qdrant()
    (point,) = qdrant.retrieve("docs", ids=[point_id(namespace, vid)], with_payload=True)
    return point.payload


# -- ids and payload layout --------------------------------------------------------------


def test_point_id_is_a_deterministic_uuid5() -> None:
    assert point_id("", "a") == point_id("", "a")
    assert point_id("", "a") == str(uuid.uuid5(POINT_ID_NAMESPACE, "\x00a"))
    assert point_id("t1", "a") != point_id("", "a")
    assert uuid.UUID(point_id("ns", "doc/1")).version == 5


def test_points_are_stored_under_the_mapped_uuid(client: Client) -> None:
    client.upsert("docs", [{"id": "doc/1 é", "values": [1.0, 0.0, 0.0]}], namespace="t1")
    qdrant = client.provider._qdrant()
    (point,) = qdrant.retrieve("docs", ids=[point_id("t1", "doc/1 é")], with_payload=True)
    assert point.payload[ID_KEY] == "doc/1 é"
    assert point.payload[NAMESPACE_KEY] == "t1"


def test_original_ids_are_returned(client: Client) -> None:
    client.upsert("docs", [{"id": "doc/1 é", "values": [1.0, 0.0, 0.0]}])
    assert client.query("docs", vector=[1.0, 0.0, 0.0], top_k=1).ids == ["doc/1 é"]
    assert list(client.fetch("docs", ["doc/1 é"])) == ["doc/1 é"]


def test_upsert_same_id_twice_keeps_one_point(client: Client) -> None:
    for _ in range(2):
        client.upsert("docs", [{"id": "a", "values": [1.0, 0.0, 0.0]}])
    assert client.provider._qdrant().count("docs", exact=True).count == 1


def test_user_metadata_cannot_collide_with_internal_keys(client: Client) -> None:
    meta = {ID_KEY: "spoof", NAMESPACE_KEY: "other", METADATA_KEY: 1}
    client.upsert("docs", [{"id": "a", "values": [1.0, 0.0, 0.0], "metadata": meta}])
    assert client.fetch("docs", ["a"])["a"].metadata == meta
    assert client.query("docs", vector=[1.0, 0.0, 0.0], top_k=5).ids == ["a"]
    assert client.stats("docs")["namespaces"] == {"": {"vector_count": 1}}
    assert client.query("docs", vector=[1.0, 0.0, 0.0], top_k=5, filter={ID_KEY: "spoof"}).ids == [
        "a"
    ]


def test_metadata_update_merges_and_keeps_internal_keys(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1.0, 0.0, 0.0], "metadata": {"k": "v", "n": 1}}])
    client.update("docs", "a", metadata={"n": 2, "new": True})
    payload = raw_payload(client, "", "a")
    assert payload[METADATA_KEY] == {"k": "v", "n": 2, "new": True}
    assert (payload[ID_KEY], payload[NAMESPACE_KEY]) == ("a", "")


def test_values_update_on_cosine_returns_the_new_values(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [3.0, 4.0, 0.0], "metadata": {"k": "v"}}])
    client.update("docs", "a", values=[0.0, 6.0, 8.0])
    fetched = client.fetch("docs", ["a"])["a"]
    assert fetched.values == pytest.approx([0.0, 6.0, 8.0], rel=1e-6)
    assert fetched.metadata == {"k": "v"}


def test_cosine_values_read_back_exactly_as_written(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1.0, 2.0, 0.0]}])
    assert client.fetch("docs", ["a"])["a"].values == [1.0, 2.0, 0.0]


def test_list_ids_by_prefix_scrolls_on_until_a_page_is_full(client: Client) -> None:
    ids = [f"{'a' if i % 2 else 'b'}{i:04d}" for i in range(2500)]
    client.upsert("docs", ids=ids, values=[[1.0, 0.0, 0.0]] * len(ids))
    listed = list(client.list_ids("docs", prefix="a", page_size=1000))
    assert sorted(listed) == [vid for vid in ids if vid.startswith("a")]


def test_same_id_in_two_namespaces_is_two_points(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1.0, 0.0, 0.0], "metadata": {"ns": "default"}}])
    client.upsert(
        "docs", [{"id": "a", "values": [0.0, 1.0, 0.0], "metadata": {"ns": "t1"}}], namespace="t1"
    )
    client.delete("docs", delete_all=True, namespace="t1")
    assert client.fetch("docs", ["a"])["a"].metadata == {"ns": "default"}
    assert client.fetch("docs", ["a"], namespace="t1") == {}
    assert client.stats("docs")["namespaces"] == {"": {"vector_count": 1}}


def test_query_never_crosses_namespaces(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1.0, 0.0, 0.0]}], namespace="t1")
    client.upsert("docs", [{"id": "b", "values": [1.0, 0.0, 0.0]}], namespace="t2")
    assert client.query("docs", vector=[1.0, 0.0, 0.0], top_k=10, namespace="t1").ids == ["a"]


class RecordingQdrant:
    """The real in-process client, with a log of the calls made through it."""

    def __init__(self) -> None:
        self.inner = QdrantClient(location=":memory:")
        self.calls: list[tuple[str, tuple, dict]] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            return target(*args, **kwargs)

        return call


def test_namespace_field_gets_a_keyword_payload_index() -> None:
    recorder = RecordingQdrant()
    Client(provider=QdrantProvider(client=recorder)).create_index("docs", dimension=2)
    indexed = {
        (args[1], kwargs["field_schema"])
        for name, args, kwargs in recorder.calls
        if name == "create_payload_index"
    }
    assert (NAMESPACE_KEY, models.PayloadSchemaType.KEYWORD) in indexed


def test_writes_wait_for_completion() -> None:
    recorder = RecordingQdrant()
    c = Client(provider=QdrantProvider(client=recorder))
    c.create_index("docs", dimension=2)
    c.upsert("docs", [{"id": "a", "values": [1.0, 0.0]}])
    c.update("docs", "a", metadata={"k": 1})
    c.delete("docs", ["a"])
    writes = [kw for name, _, kw in recorder.calls if name in ("upsert", "set_payload", "delete")]
    assert writes and all(kw.get("wait") is True for kw in writes)


def test_euclid_distance_becomes_our_score() -> None:
    c = Client(provider="qdrant", location=":memory:")
    c.create_index("geo", dimension=2, metric="euclidean")
    c.upsert("geo", [{"id": "p", "values": [6.0, 8.0]}, {"id": "q", "values": [30.0, 40.0]}])
    result = c.query("geo", vector=[0.0, 0.0], top_k=2, score_threshold=0.05)
    assert result.ids == ["p"]
    assert result[0].distance == pytest.approx(10.0)
    assert result[0].score == pytest.approx(1 / 11)


def test_path_setting_persists_between_clients(tmp_path: Path) -> None:
    config = {"PROVIDER": "qdrant", "PATH": str(tmp_path / "qdrant")}
    first = Client.from_settings(config)
    first.create_index("docs", dimension=2)
    first.upsert("docs", [{"id": "a", "values": [1.0, 0.0]}])
    first.close()
    second = Client.from_settings(config)
    assert list(second.fetch("docs", ["a"])) == ["a"]
    second.close()


def test_existing_collection_with_other_shape_is_rejected(client: Client) -> None:
    with pytest.raises(ValidationError, match="dimension"):
        client.create_index("docs", dimension=4)


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qdrant_client", None)
    with pytest.raises(ConfigurationError, match=r"pip install qdrant-client \(the qdrant extra\)"):
        QdrantProvider(location=":memory:").list_indexes()


# -- errors over HTTP --------------------------------------------------------------------


class _Answer:
    status = 200
    headers: dict[str, str] = {}


@pytest.fixture
def qdrant_http() -> Iterator[tuple[str, type[_Answer]]]:
    """A stdlib server answering Qdrant's REST calls with the status a test chooses."""
    answer = type("Answer", (_Answer,), {"status": 200, "headers": {}})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            if self.path == "/":
                return self.reply(200, {"title": "qdrant", "version": "1.15.0"})
            body = {"status": {"error": "Simulated failure"}, "time": 0.0}
            if answer.status == 200:
                body = {"result": {"collections": []}, "status": "ok", "time": 0.0}
            self.reply(answer.status, body, answer.headers)

        def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answer
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (400, ValidationError),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_http_status_maps_to_our_error(qdrant_http, status: int, error: type) -> None:
    url, answer = qdrant_http
    answer.status = status
    c = Client(provider="qdrant", url=url, api_key="qd-secret-81b2", max_retries=0)
    with pytest.raises(error) as info:
        c.list_indexes()
    assert "qd-secret-81b2" not in str(info.value)


def test_http_429_carries_retry_after(qdrant_http) -> None:
    url, answer = qdrant_http
    answer.status, answer.headers = 429, {"Retry-After": "3"}
    with pytest.raises(RateLimitError) as info:
        Client(provider="qdrant", url=url, max_retries=0).list_indexes()
    assert info.value.retry_after == 3


def test_http_200_lists_collections(qdrant_http) -> None:
    url, _ = qdrant_http
    assert Client(provider="qdrant", url=url).list_indexes() == []


def test_unreachable_server_is_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    c = Client(provider="qdrant", url=f"http://127.0.0.1:{port}", max_retries=0)
    with pytest.raises(ConnectionError):
        c.list_indexes()
    assert c.healthy() is False


def test_api_key_never_in_repr() -> None:
    provider = QdrantProvider(url="http://127.0.0.1:1", api_key="qd-secret-81b2")
    assert "qd-secret-81b2" not in repr(provider)
