"""Records' text on Pinecone (the real SDK against the local fake server): kept in metadata
under a reserved key, within the 40 KB metadata limit, and no keyword search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_pinecone import FakePinecone
from vectra_django import Client
from vectra_django.errors import UnsupportedFeatureError, ValidationError
from vectra_django.providers.pinecone.records import MAX_METADATA_BYTES
from vectra_django.providers.pinecone.text import TEXT_KEY

API_KEY = "pc-text-5d2e8b90"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePinecone]:
    with FakePinecone(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def server(fake: FakePinecone) -> FakePinecone:
    fake.reset()
    return fake


@pytest.fixture
def client(server: FakePinecone) -> Iterator[Client]:
    c = Client(
        provider="pinecone",
        api_key=API_KEY,
        host=server.url,
        max_retries=0,
        poll_interval=0.01,
        ready_timeout=5,
    )
    c.create_index("docs", dimension=2, metric="cosine")
    yield c
    c.close()


def stored_metadata(c: Client, vid: str) -> dict:
    """The metadata as Pinecone holds it, read with the SDK directly."""
    response = c.provider._index("docs").fetch(ids=[vid], namespace="")
    return dict(response.vectors[vid].metadata or {})


def upserts(server: FakePinecone) -> int:
    return server.count("POST", "/vectors/upsert")


# -- the reserved key ------------------------------------------------------------------------


def test_text_is_stored_in_metadata_under_the_reserved_key(client: Client) -> None:
    client.upsert(
        "docs", [{"id": "a", "values": [1, 0], "text": "red fox", "metadata": {"k": "v"}}]
    )
    assert stored_metadata(client, "a") == {"k": "v", TEXT_KEY: "red fox"}
    fetched = client.fetch("docs", ["a"])["a"]
    assert (fetched.text, fetched.metadata) == ("red fox", {"k": "v"})


def test_a_record_without_text_stores_no_text_key(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0], "metadata": {"k": "v"}}])
    assert stored_metadata(client, "a") == {"k": "v"}
    assert client.fetch("docs", ["a"])["a"].text is None


def test_query_results_never_carry_the_text(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0], "text": "red fox"}])
    assert client.query("docs", vector=[1, 0])[0].metadata == {}
    assert client.query("docs", vector=[1, 0], include_metadata=False)[0].metadata is None


def test_the_reserved_key_is_refused_in_user_metadata(client: Client, server: FakePinecone) -> None:
    batch = [
        {"id": "ok", "values": [1, 0]},
        {"id": "bad", "values": [0, 1], "metadata": {TEXT_KEY: "sneaky"}},
    ]
    with pytest.raises(ValidationError, match=f"'bad'.*{TEXT_KEY}"):
        client.upsert("docs", batch)
    assert upserts(server) == 0


def test_the_reserved_key_is_refused_in_a_metadata_update(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0], "text": "red fox"}])
    with pytest.raises(ValidationError, match=TEXT_KEY):
        client.update("docs", "a", metadata={TEXT_KEY: "rewritten"})
    assert client.fetch("docs", ["a"])["a"].text == "red fox"


def test_the_reserved_key_is_refused_as_a_filter_key(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0], "text": "red fox"}])
    with pytest.raises(ValidationError, match=f"{TEXT_KEY}.*reserved"):
        client.query("docs", vector=[1, 0], filter={TEXT_KEY: "red fox"})
    with pytest.raises(ValidationError, match="reserved"):
        client.query(
            "docs", vector=[1, 0], filter={"$or": [{"k": 1}, {TEXT_KEY: {"$exists": True}}]}
        )
    with pytest.raises(ValidationError, match="reserved"):
        client.delete("docs", filter={TEXT_KEY: {"$exists": True}})
    assert list(client.fetch("docs", ["a"])) == ["a"]


def test_updates_keep_the_text(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0], "text": "red fox"}])
    client.update("docs", "a", values=[0, 1])
    client.update("docs", "a", metadata={"k": "v"})
    stored = client.fetch("docs", ["a"])["a"]
    assert (stored.text, stored.metadata, stored.values) == ("red fox", {"k": "v"}, [0, 1])


# -- the 40 KB metadata limit ----------------------------------------------------------------


def test_a_text_over_the_metadata_limit_is_refused_before_anything_is_sent(
    client: Client, server: FakePinecone
) -> None:
    batch = [
        {"id": "small", "values": [1, 0], "text": "red fox"},
        {"id": "long-one", "values": [0, 1], "text": "x" * MAX_METADATA_BYTES},
    ]
    with pytest.raises(ValidationError) as info:
        client.upsert("docs", batch)
    message = str(info.value)
    assert "'long-one'" in message and "40 KB" in message and "text" in message
    assert upserts(server) == 0
    assert client.fetch("docs", ["small"]) == {}


def test_text_and_metadata_count_together_towards_the_limit(
    client: Client, server: FakePinecone
) -> None:
    metadata = {"note": "y" * (MAX_METADATA_BYTES // 2)}
    with pytest.raises(ValidationError, match="'a'"):
        client.upsert(
            "docs",
            [{"id": "a", "values": [1, 0], "metadata": metadata, "text": "z" * 21_000}],
        )
    assert upserts(server) == 0
    client.upsert("docs", [{"id": "a", "values": [1, 0], "metadata": metadata, "text": "fits"}])
    assert client.fetch("docs", ["a"])["a"].text == "fits"


def test_a_text_near_the_limit_round_trips(client: Client) -> None:
    text = "é" * ((MAX_METADATA_BYTES - 100) // 2)  # two bytes each in UTF-8
    client.upsert("docs", [{"id": "a", "values": [1, 0], "text": text}])
    assert client.fetch("docs", ["a"])["a"].text == text


def test_multibyte_text_is_measured_in_bytes(client: Client, server: FakePinecone) -> None:
    text = "é" * (MAX_METADATA_BYTES // 2 + 10)  # fewer characters than bytes allowed
    with pytest.raises(ValidationError, match="'a'"):
        client.upsert("docs", [{"id": "a", "values": [1, 0], "text": text}])
    assert upserts(server) == 0


def test_a_metadata_update_that_would_overflow_beside_the_text_is_refused(
    client: Client, server: FakePinecone
) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0], "text": "t" * 30_000}])
    with pytest.raises(ValidationError, match=r"'a'.*text"):
        client.update("docs", "a", metadata={"note": "n" * 15_000})
    assert server.count("POST", "/vectors/update") == 0
    stored = client.fetch("docs", ["a"])["a"]
    assert stored.metadata == {} and len(stored.text) == 30_000


def test_long_texts_split_an_upsert_into_requests_within_the_size_limit(
    client: Client, server: FakePinecone
) -> None:
    # 100 records of 30 KB text: 3 MB, more than one 2 MB request can carry.
    batch = [
        {"id": f"r{i}", "values": [1, i + 1], "text": chr(97 + i % 26) * 30_000} for i in range(100)
    ]
    assert client.upsert("docs", batch) == {"upserted_count": 100}
    assert upserts(server) >= 2
    assert client.fetch("docs", ["r99"])["r99"].text == "v" * 30_000


# -- no keyword search -----------------------------------------------------------------------


def test_text_search_is_refused_without_a_request(client: Client, server: FakePinecone) -> None:
    before = server.count()
    with pytest.raises(UnsupportedFeatureError, match="sparse-dense") as info:
        client.text_search("docs", "fox")
    assert info.value.provider == "pinecone"
    assert server.count() == before


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_hybrid_search_is_refused_at_every_alpha(
    client: Client, server: FakePinecone, alpha: float
) -> None:
    before = server.count()
    with pytest.raises(UnsupportedFeatureError, match=r"hybrid_search.*dotproduct"):
        client.hybrid_search("docs", "fox", [1, 0], alpha=alpha)
    assert server.count() == before
