"""Records' text on Qdrant (qdrant-client's in-process mode): where the text is kept, the
sparse ``text`` vector and its IDF weighting, one round trip per hybrid search, and
collections made before records carried text."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from qdrant_client import models

from vectra_django import Client
from vectra_django.errors import NotFoundError, UnsupportedFeatureError
from vectra_django.providers import keywords
from vectra_django.providers.qdrant.payload import METADATA_KEY, TEXT_KEY, point_id
from vectra_django.providers.qdrant.text import TEXT_VECTOR


@pytest.fixture
def client() -> Iterator[Client]:
    c = Client(provider="qdrant", location=":memory:", max_retries=0)
    c.create_index("docs", dimension=3, metric="cosine")
    yield c
    c.close()


def raw_point(c: Client, vid: str, namespace: str = "", collection: str = "docs") -> Any:
    qdrant = c.provider._qdrant()
    (point,) = qdrant.retrieve(
        collection, ids=[point_id(namespace, vid)], with_payload=True, with_vectors=True
    )
    return point


class Calls:
    """Counts the qdrant client's search requests while letting each run for real."""

    def __init__(self, c: Client, monkeypatch: pytest.MonkeyPatch) -> None:
        self.batches: list[list[Any]] = []
        self.single = 0
        qdrant = c.provider._qdrant()
        batch, single = qdrant.query_batch_points, qdrant.query_points

        def query_batch_points(collection: str, requests: list[Any], **kwargs: Any) -> Any:
            self.batches.append(list(requests))
            return batch(collection, requests=requests, **kwargs)

        def query_points(*args: Any, **kwargs: Any) -> Any:
            self.single += 1
            return single(*args, **kwargs)

        monkeypatch.setattr(qdrant, "query_batch_points", query_batch_points)
        monkeypatch.setattr(qdrant, "query_points", query_points)

    @property
    def round_trips(self) -> int:
        return len(self.batches) + self.single


# -- where the text is kept ------------------------------------------------------------------


def test_text_is_kept_beside_the_metadata_not_in_it(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0, 0], "text": "red fox", "metadata": {}}])
    payload = raw_point(client, "a").payload
    assert payload[TEXT_KEY] == "red fox"
    assert payload[METADATA_KEY] == {}
    assert client.fetch("docs", ["a"])["a"].metadata == {}


def test_a_metadata_key_named_like_ours_stays_the_users(client: Client) -> None:
    client.upsert(
        "docs",
        [
            {"id": "a", "values": [1, 0, 0], "text": "red fox", "metadata": {TEXT_KEY: "mine"}},
            {"id": "b", "values": [0, 1, 0], "text": "blue whale"},
        ],
    )
    a = client.fetch("docs", ["a"])["a"]
    assert (a.text, a.metadata) == ("red fox", {TEXT_KEY: "mine"})
    # A filter on that key reaches the user's metadata only, never the stored texts.
    assert client.query("docs", vector=[1, 1, 0], filter={TEXT_KEY: {"$exists": True}}).ids == ["a"]
    assert client.text_search("docs", "whale", filter={TEXT_KEY: "blue whale"}).ids == []
    assert client.text_search("docs", "fox", filter={TEXT_KEY: "mine"}).ids == ["a"]


def test_search_results_do_not_carry_the_text(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0, 0], "text": "red fox"}])
    for match in [
        client.query("docs", vector=[1, 0, 0])[0],
        client.text_search("docs", "fox")[0],
        client.hybrid_search("docs", "fox", [1, 0, 0])[0],
    ]:
        assert match.metadata == {}


def test_a_record_without_text_has_no_text_key_or_sparse_vector(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0, 0]}])
    point = raw_point(client, "a")
    assert TEXT_KEY not in point.payload
    assert not isinstance(point.vector, dict) or TEXT_VECTOR not in point.vector


def test_values_and_metadata_updates_keep_the_text_and_its_vector(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0, 0], "text": "red fox"}])
    client.update("docs", "a", values=[0, 2, 0], metadata={"k": 1})
    assert client.fetch("docs", ["a"])["a"].text == "red fox"
    assert client.fetch("docs", ["a"])["a"].values == pytest.approx([0, 2, 0])
    assert client.text_search("docs", "fox").ids == ["a"]


def test_a_persisted_store_keeps_text_and_keyword_search(tmp_path) -> None:
    first = Client(provider="qdrant", path=str(tmp_path), max_retries=0)
    first.create_index("docs", dimension=2)
    first.upsert("docs", [{"id": "a", "values": [1, 0], "text": "red fox"}])
    first.close()
    again = Client(provider="qdrant", path=str(tmp_path), max_retries=0)
    assert again.fetch("docs", ["a"])["a"].text == "red fox"
    assert again.text_search("docs", "fox").ids == ["a"]
    again.close()


# -- the sparse text vector ------------------------------------------------------------------


def test_new_collections_get_an_idf_weighted_sparse_text_vector(client: Client) -> None:
    info = client.provider._qdrant().get_collection("docs")
    assert info.config.params.sparse_vectors[TEXT_VECTOR].modifier == models.Modifier.IDF
    assert client.describe_index("docs")["sparse_vectors"] == [TEXT_VECTOR]
    assert client.describe_index("docs")["dimension"] == 3  # the dense vector is unchanged


def test_each_record_with_words_gets_its_sparse_document(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0, 0], "text": "Fox, fox and the hound"}])
    sparse = raw_point(client, "a").vector[TEXT_VECTOR]
    indices, values = keywords.sparse_document("Fox, fox and the hound")
    assert (sparse.indices, sparse.values) == (indices, pytest.approx(values))


def test_a_text_of_only_stopwords_is_kept_but_never_matches(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0, 0], "text": "the and of"}])
    assert client.fetch("docs", ["a"])["a"].text == "the and of"
    assert client.text_search("docs", "the").ids == []


def test_scores_weigh_each_word_by_its_inverse_document_frequency(client: Client) -> None:
    client.upsert(
        "docs",
        [
            {"id": "a", "values": [1, 0, 0], "text": "ocelot dog"},
            {"id": "b", "values": [0, 1, 0], "text": "dog"},
            {"id": "c", "values": [0, 0, 1], "text": "dog dog"},
            {"id": "d", "values": [1, 1, 0]},  # no text: not in the corpus
        ],
    )

    def idf(df: int, n: int = 3) -> float:
        return math.log((n - df + 0.5) / (df + 0.5) + 1)

    result = client.text_search("docs", "ocelot dog")
    assert result.ids[0] == "a"
    scores = dict(zip(result.ids, result.scores, strict=True))
    assert scores["a"] == pytest.approx(idf(1) + idf(3), rel=1e-5)
    two = 2 * (keywords.K1 + 1) / (2 + keywords.K1)  # "dog" twice, saturated
    assert scores["c"] == pytest.approx(idf(3) * two, rel=1e-5)
    assert scores["b"] == pytest.approx(idf(3), rel=1e-5)
    assert "d" not in scores


def test_text_search_is_one_request(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0, 0], "text": "red fox"}])
    client.text_search("docs", "fox")  # caches the index description
    calls = Calls(client, monkeypatch)
    assert client.text_search("docs", "fox").ids == ["a"]
    assert calls.round_trips == 1


def test_hybrid_search_sends_both_legs_in_one_batch(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0, 0], "text": "red fox"}])
    client.hybrid_search("docs", "fox", [1, 0, 0])  # caches the index description
    calls = Calls(client, monkeypatch)
    result = client.hybrid_search("docs", "fox", [1, 0, 0], top_k=5, candidates=7)
    assert calls.round_trips == 1
    (requests,) = calls.batches
    assert [r.using for r in requests] == [None, TEXT_VECTOR]
    assert [r.limit for r in requests] == [7, 7]
    assert requests[0].filter == requests[1].filter  # the same namespace and filter
    assert result[0].vector_score is not None and result[0].text_score is not None


@pytest.mark.parametrize(("alpha", "using"), [(1.0, None), (0.0, TEXT_VECTOR)])
def test_a_leg_of_weight_zero_is_not_sent(
    client: Client, monkeypatch: pytest.MonkeyPatch, alpha: float, using: str | None
) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0, 0], "text": "red fox"}])
    client.describe_index("docs")
    calls = Calls(client, monkeypatch)
    client.hybrid_search("docs", "fox", [1, 0, 0], alpha=alpha)
    (requests,) = calls.batches
    assert [r.using for r in requests] == [using]


def test_hybrid_vector_scores_follow_the_metric(client: Client) -> None:
    client.create_index("euclid", dimension=2, metric="euclidean")
    client.upsert("euclid", [{"id": "a", "values": [3, 4], "text": "red fox"}])
    match = client.hybrid_search("euclid", "fox", [0, 0])[0]
    assert match.vector_score == pytest.approx(1 / 6)  # 1 / (1 + distance 5)
    assert match.distance == pytest.approx(5.0)


def test_deleted_records_are_not_found_by_words(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1, 0, 0], "text": "red fox"}])
    client.delete("docs", ids=["a"])
    assert client.text_search("docs", "fox").ids == []
    assert client.hybrid_search("docs", "fox", alpha=0).ids == []


# -- collections made before records carried text --------------------------------------------


@pytest.fixture
def legacy(client: Client) -> str:
    """A collection as this provider made it before: a dense vector and nothing else."""
    client.provider._qdrant().create_collection(
        "legacy", vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE)
    )
    client.upsert("legacy", [{"id": "old", "values": [1, 0, 0], "metadata": {"k": 1}}])
    return "legacy"


@pytest.mark.parametrize("text", ["fox", "the"])
def test_keyword_search_on_a_legacy_collection_says_what_to_do(
    client: Client, legacy: str, text: str
) -> None:
    for search in (
        lambda: client.text_search(legacy, text),
        lambda: client.hybrid_search(legacy, text, [1, 0, 0]),
    ):
        with pytest.raises(UnsupportedFeatureError) as info:
            search()
        message = str(info.value)
        assert "'legacy'" in message and "vectra_reindex" in message
        assert "recreate the index" in message


def test_a_legacy_collection_still_answers_vector_only_hybrid_searches(
    client: Client, legacy: str
) -> None:
    assert client.hybrid_search(legacy, "fox", [1, 0, 0], alpha=1).ids == ["old"]


def test_a_missing_collection_is_not_found_not_legacy(client: Client) -> None:
    for text in ("fox", "the"):
        with pytest.raises(NotFoundError):
            client.text_search("gone", text)


def test_upserts_without_text_leave_a_legacy_collection_as_it_is(
    client: Client, legacy: str
) -> None:
    client.upsert(legacy, [{"id": "new", "values": [0, 1, 0]}])
    assert client.describe_index(legacy)["sparse_vectors"] == []


def test_the_first_upsert_with_text_adds_the_text_vector(client: Client, legacy: str) -> None:
    client.upsert(
        legacy,
        [
            {"id": "new", "values": [0, 1, 0], "text": "red fox"},
            {"id": "plain", "values": [0, 0, 1]},
        ],
    )
    assert client.describe_index(legacy)["sparse_vectors"] == [TEXT_VECTOR]
    assert client.fetch(legacy, ["new"])["new"].text == "red fox"
    assert client.text_search(legacy, "fox").ids == ["new"]
    # Records written before keep working, without text.
    assert client.fetch(legacy, ["old"])["old"].metadata == {"k": 1}
    assert set(client.hybrid_search(legacy, "fox", [1, 0, 0]).ids) == {"new", "old", "plain"}
