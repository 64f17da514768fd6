"""The Pinecone provider over real HTTP: the official SDK talking to the local fake server."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest

from tests.fake_pinecone import FakePinecone
from vectra_django import Client
from vectra_django.client.filters import parse
from vectra_django.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectionError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from vectra_django.providers.pinecone.provider import PineconeProvider, compile_filter

API_KEY = "pc-secret-4f9a7c21"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePinecone]:
    with FakePinecone(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def server(fake: FakePinecone) -> FakePinecone:
    fake.reset()
    return fake


def make_client(server: FakePinecone, api_key: str = API_KEY, **kwargs) -> Client:
    kwargs.setdefault("max_retries", 0)
    return Client(
        provider="pinecone",
        api_key=api_key,
        host=server.url,
        poll_interval=0.01,
        ready_timeout=5,
        **kwargs,
    )


@pytest.fixture
def client(server: FakePinecone) -> Iterator[Client]:
    c = make_client(server)
    c.create_index("docs", dimension=2, metric="cosine")
    yield c
    c.close()


# -- errors over HTTP --------------------------------------------------------------------


def test_bad_api_key_is_authentication_error(server: FakePinecone) -> None:
    c = make_client(server, api_key="wrong-key-123456")
    with pytest.raises(AuthenticationError) as info:
        c.list_indexes()
    assert "wrong-key-123456" not in str(info.value)
    assert server.count("GET", "/indexes") == 1


def test_unknown_index_is_not_found(server: FakePinecone) -> None:
    with pytest.raises(NotFoundError):
        make_client(server).describe_index("nope")


def test_data_plane_404_drops_cached_host(client: Client, server: FakePinecone) -> None:
    client.upsert("docs", [{"id": "a", "values": [1.0, 0.0]}])
    client.provider.delete_index("docs")  # behind the client's back: its cache is stale
    with pytest.raises(NotFoundError):
        client.fetch("docs", ["a"])
    assert "docs" not in client.provider._hosts


def test_rate_limit_waits_retry_after_then_succeeds(server: FakePinecone) -> None:
    c = make_client(server, max_retries=3, retry_delay=0.001)
    c.create_index("docs", dimension=2)
    server.fail_next(429, times=1, retry_after=0.3, path="/query")
    start = time.monotonic()
    result = c.query("docs", vector=[1.0, 0.0], top_k=1)
    assert time.monotonic() - start >= 0.3
    assert result.ids == []
    assert server.count("POST", "/query") == 2


def test_rate_limit_error_carries_retry_after(client: Client, server: FakePinecone) -> None:
    server.fail_next(429, retry_after=7, path="/vectors/fetch")
    with pytest.raises(RateLimitError) as info:
        client.fetch("docs", ["a"])
    assert info.value.retry_after == 7


def test_server_errors_are_retried_up_to_max_retries(server: FakePinecone) -> None:
    c = make_client(server, max_retries=2, retry_delay=0.001)
    c.create_index("docs", dimension=2)
    server.fail_next(503, times=10, path="/describe_index_stats")
    with pytest.raises(ServerError) as info:
        c.stats("docs")
    assert info.value.status_code == 503
    assert server.count("POST", "/describe_index_stats") == 3  # one try, two retries


def test_server_error_then_success(server: FakePinecone) -> None:
    c = make_client(server, max_retries=2, retry_delay=0.001)
    c.create_index("docs", dimension=2)
    server.fail_next(500, times=1, path="/vectors/upsert")
    assert c.upsert("docs", [{"id": "a", "values": [1.0, 0.0]}]) == {"upserted_count": 1}
    assert server.count("POST", "/vectors/upsert") == 2


def test_unreachable_host_is_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    c = Client(provider="pinecone", api_key=API_KEY, host=f"http://127.0.0.1:{port}", max_retries=0)
    with pytest.raises(ConnectionError):
        c.list_indexes()
    assert c.healthy() is False


def test_api_key_never_in_repr(server: FakePinecone) -> None:
    c = make_client(server)
    assert API_KEY not in repr(c.provider)
    assert API_KEY not in repr(c)


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pinecone", None)
    provider = PineconeProvider(api_key=API_KEY)
    with pytest.raises(ConfigurationError, match=r"pip install pinecone"):
        provider.list_indexes()


# -- control plane -----------------------------------------------------------------------


def test_create_index_sends_serverless_deployment(server: FakePinecone) -> None:
    c = make_client(server, cloud="gcp", region="us-central1")
    described = c.create_index("docs", dimension=3, metric="dotproduct")
    assert (described["cloud"], described["region"], described["metric"]) == (
        "gcp",
        "us-central1",
        "dotproduct",
    )


def test_create_index_waits_until_ready(fake: FakePinecone) -> None:
    with FakePinecone(api_key=API_KEY, describes_until_ready=3) as slow:
        c = make_client(slow)
        assert c.create_index("docs", dimension=2)["ready"] is True
        assert slow.count("GET", "/indexes/docs") >= 4


def test_index_name_pinecone_cannot_hold_is_validation_error(server: FakePinecone) -> None:
    with pytest.raises(ValidationError):
        make_client(server).create_index("under_score", dimension=2)
    assert server.count("POST", "/indexes") == 0


def test_host_is_resolved_once_and_cached(client: Client, server: FakePinecone) -> None:
    client.upsert("docs", [{"id": "a", "values": [1.0, 0.0]}])
    describes = server.count("GET", "/indexes/docs")
    for _ in range(5):
        client.query("docs", vector=[1.0, 0.0], top_k=1)
        client.fetch("docs", ["a"])
    client.stats("docs")
    assert server.count("GET", "/indexes/docs") == describes


def test_delete_in_empty_namespace_is_a_no_op(client: Client) -> None:
    assert client.delete("docs", delete_all=True, namespace="never-written") == {
        "deleted_count": None
    }


# -- data plane shaping ------------------------------------------------------------------


def upsert_requests(server: FakePinecone) -> list:
    return [r for r in server.requests if r.path == "/vectors/upsert"]


def test_upsert_1050_vectors_in_default_batches(client: Client, server: FakePinecone) -> None:
    ids = [f"v{i}" for i in range(1050)]
    client.upsert("docs", ids=ids, values=np.ones((1050, 2), dtype=np.float32))
    sizes = [r.vector_count for r in upsert_requests(server)]
    assert sizes == [100] * 10 + [50]
    assert client.stats("docs")["total_vector_count"] == 1050


def test_large_batch_is_split_at_1000_vectors(client: Client, server: FakePinecone) -> None:
    big = client.bind()
    big.batch_size = 5000
    big.upsert("docs", ids=[f"v{i}" for i in range(1050)], values=np.ones((1050, 2)))
    assert [r.vector_count for r in upsert_requests(server)] == [1000, 50]


def test_upsert_is_split_by_request_size(client: Client, server: FakePinecone) -> None:
    text = "x" * 30_000
    rows = [{"id": f"v{i}", "values": [1.0, 0.0], "metadata": {"text": text}} for i in range(100)]
    client.upsert("docs", rows)
    requests = upsert_requests(server)
    assert len(requests) > 1
    assert all(r.body_bytes <= 2 * 1024 * 1024 for r in requests)
    assert sum(r.vector_count for r in requests) == 100


def test_metadata_pinecone_rejects_fails_before_any_request(
    client: Client, server: FakePinecone
) -> None:
    with pytest.raises(ValidationError, match="'nested'"):
        client.upsert("docs", [{"id": "a", "values": [1.0, 0.0], "metadata": {"nested": {"a": 1}}}])
    assert upsert_requests(server) == []


def test_euclidean_distance_is_square_root_of_pinecone_score(server: FakePinecone) -> None:
    c = make_client(server)
    c.create_index("geo", dimension=2, metric="euclidean")
    c.upsert("geo", [{"id": "p", "values": [6.0, 8.0]}])
    match = c.query("geo", vector=[0.0, 0.0], top_k=1)[0]
    assert match.distance == pytest.approx(10.0)
    assert match.score == pytest.approx(1 / 11)


def test_update_of_absent_id_is_not_found(client: Client, server: FakePinecone) -> None:
    with pytest.raises(NotFoundError):
        client.update("docs", "ghost", metadata={"k": 1})
    assert server.count("POST", "/vectors/update") == 0


def test_update_sends_only_new_metadata_keys(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1.0, 0.0], "metadata": {"k": "v"}}])
    client.update("docs", "a", metadata={"n": 2})
    assert client.fetch("docs", ["a"])["a"].metadata == {"k": "v", "n": 2}


def test_settings_style_configuration(server: FakePinecone) -> None:
    c = Client.from_settings(
        {
            "PROVIDER": "pinecone",
            "API_KEY": API_KEY,
            "HOST": server.url,
            "TIMEOUT": 5,
            "MAX_RETRIES": 0,
            "OPTIONS": {"cloud": "aws", "region": "eu-west-1"},
        },
        alias="remote",
    )
    assert c.create_index("docs", dimension=2)["region"] == "eu-west-1"


# -- filter compilation ------------------------------------------------------------------


def test_ne_compiles_to_missing_or_different() -> None:
    assert compile_filter(parse({"k": {"$ne": "x"}})) == {
        "$or": [{"k": {"$exists": False}}, {"k": {"$ne": "x"}}]
    }


def test_booleans_in_in_become_equalities() -> None:
    assert compile_filter(parse({"k": {"$in": ["a", True]}})) == {
        "$or": [{"k": {"$in": ["a"]}}, {"k": {"$eq": True}}]
    }


def test_nin_with_booleans_keeps_missing_passing() -> None:
    assert compile_filter(parse({"k": {"$nin": [1, False]}})) == {
        "$or": [
            {"k": {"$exists": False}},
            {"$and": [{"k": {"$nin": [1]}}, {"k": {"$ne": False}}]},
        ]
    }


# -- whole-batch checks before any write ----------------------------------------------------


def test_oversized_metadata_in_the_last_chunk_writes_nothing(
    client: Client, server: FakePinecone
) -> None:
    client.upsert("docs", [{"id": "old", "values": [1.0, 0.0], "metadata": {"k": "v"}}])
    server.requests.clear()
    rows = [{"id": f"v{i}", "values": [1.0, 0.0]} for i in range(250)]
    rows.append({"id": "huge", "values": [0.0, 1.0], "metadata": {"text": "é" * 21_000}})
    with pytest.raises(ValidationError, match=r"'huge'.*42\d\d\d bytes.*40960 bytes"):
        client.upsert("docs", rows)  # three chunks of 100 by default
    assert upsert_requests(server) == []
    assert client.stats("docs")["total_vector_count"] == 1
    assert client.fetch("docs", ["old"])["old"].metadata == {"k": "v"}


def test_metadata_at_the_limit_is_accepted_by_pinecone(client: Client) -> None:
    # 40960 bytes of compact UTF-8 JSON: {"text":"..."} is 11 bytes around the text.
    text = "é" * ((40 * 1024 - 11) // 2)
    client.upsert("docs", [{"id": "full", "values": [1.0, 0.0], "metadata": {"text": text}}])
    assert client.fetch("docs", ["full"])["full"].metadata == {"text": text}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        pytest.param({"id": "café", "values": [1.0, 0.0]}, r"'café'.*ASCII", id="non-ascii-id"),
        pytest.param(
            {"id": "n", "values": [1.0, 0.0], "metadata": {"gone": None}},
            r"'n'.*'gone'.*string, number, boolean or list of strings",
            id="null-value",
        ),
        pytest.param(
            {"id": "l", "values": [1.0, 0.0], "metadata": {"tags": ["a", 1]}},
            r"'l'.*'tags'",
            id="list-of-numbers",
        ),
    ],
)
def test_values_pinecone_refuses_in_the_last_chunk_write_nothing(
    client: Client, server: FakePinecone, item: dict, message: str
) -> None:
    rows = [{"id": f"v{i}", "values": [1.0, 0.0]} for i in range(150)] + [item]
    with pytest.raises(ValidationError, match=message):
        client.upsert("docs", rows)
    assert upsert_requests(server) == []


# -- listing ids ------------------------------------------------------------------------------


def list_requests(server: FakePinecone) -> list:
    return [r for r in server.requests if r.path == "/vectors/list"]


def test_list_ids_follows_pinecones_tokens_100_at_a_time(
    client: Client, server: FakePinecone
) -> None:
    ids = [f"v{i:03d}" for i in range(250)]
    client.upsert("docs", ids=ids, values=np.ones((250, 2)))
    assert list(client.list_ids("docs", page_size=1000)) == ids  # bitwise order
    assert len(list_requests(server)) == 3


def test_list_ids_sends_the_prefix_to_pinecone(client: Client, server: FakePinecone) -> None:
    client.upsert("docs", ids=["a1", "a2", "b1"], values=np.ones((3, 2)))
    assert list(client.list_ids("docs", prefix="a")) == ["a1", "a2"]
    assert len(list_requests(server)) == 1


def test_list_ids_with_a_prefix_no_pinecone_id_can_have(
    client: Client, server: FakePinecone
) -> None:
    client.upsert("docs", ids=["a1"], values=np.ones((1, 2)))
    assert list(client.list_ids("docs", prefix="é")) == []
    assert list_requests(server) == []
    with pytest.raises(NotFoundError):
        list(client.list_ids("gone", prefix="é"))


def test_list_ids_on_an_index_deleted_behind_the_clients_back(client: Client) -> None:
    client.upsert("docs", ids=["a1"], values=np.ones((1, 2)))
    client.provider.delete_index("docs")
    with pytest.raises(NotFoundError):
        list(client.list_ids("docs"))


def test_bad_pagination_token_is_a_validation_error(client: Client) -> None:
    with pytest.raises(ValidationError):
        client.provider.list_ids("docs", "", cursor="not-a-token")


def test_fake_list_endpoint_speaks_pinecones_shape(client: Client, server: FakePinecone) -> None:
    import httpx

    client.upsert("docs", ids=["a", "b", "c"], values=np.ones((3, 2)), namespace="ns")
    host = client.describe_index("docs")["host"]
    headers = {"Api-Key": API_KEY, "X-Pinecone-Api-Version": "2026-07"}
    first = httpx.get(
        f"{host}/vectors/list", params={"namespace": "ns", "limit": 2}, headers=headers
    ).json()
    assert first["vectors"] == [{"id": "a"}, {"id": "b"}]
    assert first["namespace"] == "ns" and first["usage"] == {"readUnits": 1}
    token = first["pagination"]["next"]
    last = httpx.get(
        f"{host}/vectors/list",
        params={"namespace": "ns", "limit": 2, "paginationToken": token},
        headers=headers,
    ).json()
    assert last["vectors"] == [{"id": "c"}] and "pagination" not in last
    too_many = httpx.get(
        f"{host}/vectors/list", params={"namespace": "ns", "limit": 101}, headers=headers
    )
    assert too_many.status_code == 400


# -- default index names ------------------------------------------------------------------


def test_default_index_names_follow_pinecones_rules() -> None:
    name = PineconeProvider.default_index_name
    assert name("testapp_uuiddocument_embedding") == "testapp-uuiddocument-embedding"
    long = name("a_very_long_application_label_somemodelwithalongname_embedding")
    assert len(long) == 45 and long == name(
        "a_very_long_application_label_somemodelwithalongname_embedding"
    )
    assert long != name("a_very_long_application_label_somemodelwithalongname_embedding2")
    assert all(ch.isalnum() or ch == "-" for ch in long) and long[0] != "-" and long[-1] != "-"
