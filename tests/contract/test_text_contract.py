"""Records' text, keyword search and hybrid search on every provider (``client`` fixture).

Stores rank words their own way (PostgreSQL full-text search requires every query word;
BM25 and Qdrant's sparse vectors take any), so these behaviours hold on all of them: single
words, or words one record has all of. A store outside ``TEXT_PROVIDERS`` must refuse keyword
search with a message naming what it lacks, never answer with a vector search.
"""

from __future__ import annotations

import pytest

from vectra_django import Client
from vectra_django.client.text import INDEXED_TEXT_LENGTH, MAX_RECORD_TEXT_LENGTH
from vectra_django.errors import UnsupportedFeatureError

TEXT_PROVIDERS = {"memory", "qdrant", "pgvector-url", "pgvector-django"}

# "ocelot" is in one record; "dog" in four, twice in the short "dog1". Vectors: "near" is
# the nearest to NEAR, "dog1" the second.
RECORDS = [
    ("near", [1.0, 0.0, 0.0], None, {"group": "x"}),
    ("dog1", [0.9, 0.1, 0.0], "a dog, a good dog", {"group": "x"}),
    ("dog2", [0.0, 1.0, 0.0], "my dog sleeps", {"group": "y"}),
    ("dog3", [0.0, 0.9, 0.1], "dog food and dog toys", {"group": "y"}),
    ("rare", [-0.1, 0.0, 1.0], "an ocelot chases a dog", {"group": "x"}),
    ("cats", [0.1, 0.0, 0.9], "cats purr loudly", {"group": "y"}),
]
NEAR = [1.0, 0.0, 0.0]


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> str:
    """The name the ``client`` fixture was built for."""
    return request.node.callspec.params["client"]


@pytest.fixture
def text_index(client: Client, index_name: str) -> str:
    client.create_index(index_name, dimension=3, metric="cosine")
    client.upsert(
        index_name,
        [
            {"id": vid, "values": values, "text": text, "metadata": meta}
            for vid, values, text, meta in RECORDS
        ],
    )
    return index_name


@pytest.fixture
def searchable(provider: str) -> None:
    if provider not in TEXT_PROVIDERS:
        pytest.skip(f"{provider} does not search text (see the refusal tests)")


# -- every provider: records keep their text -------------------------------------------------


def test_fetch_returns_each_records_text(client: Client, text_index: str) -> None:
    fetched = client.fetch(text_index, ["rare", "near"])
    assert fetched["rare"].text == "an ocelot chases a dog"
    assert fetched["near"].text is None


def test_the_text_never_shows_up_in_metadata(client: Client, text_index: str) -> None:
    assert client.fetch(text_index, ["rare"])["rare"].metadata == {"group": "x"}
    result = client.query(text_index, vector=[-0.1, 0.0, 1.0], top_k=1)
    assert (result.ids, result[0].metadata) == (["rare"], {"group": "x"})


def test_update_keeps_the_text(client: Client, text_index: str) -> None:
    client.update(text_index, "rare", metadata={"seen": True})
    client.update(text_index, "rare", values=[0.0, 0.5, 0.5])
    stored = client.fetch(text_index, ["rare"])["rare"]
    assert stored.text == "an ocelot chases a dog"
    assert stored.metadata == {"group": "x", "seen": True}


def test_upserting_again_without_text_clears_the_text(client: Client, text_index: str) -> None:
    client.upsert(text_index, [{"id": "rare", "values": [0.0, 0.0, 1.0]}])
    assert client.fetch(text_index, ["rare"])["rare"].text is None


def test_texts_travel_on_the_ids_and_values_path(client: Client, index_name: str) -> None:
    client.create_index(index_name, dimension=2)
    client.upsert(index_name, ids=["a", "b"], values=[[1.0, 0.0], [0.0, 1.0]], texts=["x y", None])
    fetched = client.fetch(index_name, ["a", "b"])
    assert (fetched["a"].text, fetched["b"].text) == ("x y", None)


def test_texts_stay_in_their_namespace(client: Client, text_index: str) -> None:
    client.upsert(
        text_index, [{"id": "rare", "values": [0, 0, 1], "text": "other"}], namespace="t1"
    )
    assert client.fetch(text_index, ["rare"])["rare"].text == "an ocelot chases a dog"
    assert client.fetch(text_index, ["rare"], namespace="t1")["rare"].text == "other"


# -- stores that search text -----------------------------------------------------------------


@pytest.mark.usefixtures("searchable")
def test_a_rare_word_ranks_first(client: Client, text_index: str) -> None:
    result = client.text_search(text_index, "ocelot dog")
    assert result.ids[0] == "rare"
    assert client.text_search(text_index, "ocelot").ids == ["rare"]


@pytest.mark.usefixtures("searchable")
def test_text_search_returns_only_records_with_the_word(client: Client, text_index: str) -> None:
    result = client.text_search(text_index, "dog")
    assert set(result.ids) == {"dog1", "dog2", "dog3", "rare"}
    assert all(score > 0 for score in result.scores)
    assert result.scores == sorted(result.scores, reverse=True)
    assert client.text_search(text_index, "zebra").ids == []


@pytest.mark.usefixtures("searchable")
def test_text_search_honours_top_k_and_include_flags(client: Client, text_index: str) -> None:
    result = client.text_search(text_index, "dog", top_k=2, include_values=True)
    assert len(result) == 2
    assert len(result[0].values) == 3 and result[0].metadata is not None
    bare = client.text_search(text_index, "ocelot", include_metadata=False)
    assert bare[0].metadata is None and bare[0].values is None


@pytest.mark.usefixtures("searchable")
def test_text_search_stays_in_its_namespace(client: Client, text_index: str) -> None:
    client.upsert(
        text_index, [{"id": "t-ocelot", "values": [0, 0, 1], "text": "ocelot"}], namespace="t1"
    )
    assert client.text_search(text_index, "ocelot").ids == ["rare"]
    assert client.text_search(text_index, "ocelot", namespace="t1").ids == ["t-ocelot"]
    assert client.text_search(text_index, "ocelot", namespace="t2").ids == []


@pytest.mark.usefixtures("searchable")
def test_text_search_applies_the_filter(client: Client, text_index: str) -> None:
    assert set(client.text_search(text_index, "dog", filter={"group": "y"}).ids) == {
        "dog2",
        "dog3",
    }
    assert client.text_search(text_index, "ocelot", filter={"group": "y"}).ids == []


@pytest.mark.usefixtures("searchable")
def test_updated_text_is_searched(client: Client, text_index: str) -> None:
    client.upsert(text_index, [{"id": "cats", "values": [0.1, 0, 0.9], "text": "an ocelot"}])
    assert set(client.text_search(text_index, "ocelot").ids) == {"rare", "cats"}
    assert client.text_search(text_index, "purr").ids == []


@pytest.mark.usefixtures("searchable")
def test_a_long_text_is_kept_whole_and_searched_by_its_beginning(
    client: Client, text_index: str
) -> None:
    words = " ".join(f"w{i:07d}" for i in range(110_000))  # 1.4 MB of tsvector in full
    text = f"okapi {words} narwhal"
    assert INDEXED_TEXT_LENGTH < len(text) <= MAX_RECORD_TEXT_LENGTH
    client.upsert(text_index, [{"id": "long", "values": [0.5, 0.5, 0.0], "text": text}])
    assert client.fetch(text_index, ["long"])["long"].text == text
    assert client.text_search(text_index, "okapi").ids == ["long"]
    assert client.text_search(text_index, "narwhal").ids == []  # past the indexed beginning


@pytest.mark.usefixtures("searchable")
def test_hybrid_search_returns_rows_found_by_either_leg(client: Client, text_index: str) -> None:
    result = client.hybrid_search(text_index, "ocelot", NEAR, top_k=3, candidates=3)
    assert result.scores == sorted(result.scores, reverse=True)
    by_id = {m.id: m for m in result}
    assert by_id["near"].vector_score == pytest.approx(1.0, abs=1e-5)  # vector leg only
    assert by_id["near"].text_score is None
    assert by_id["rare"].text_score > 0 and by_id["rare"].vector_score is None  # text only


@pytest.mark.usefixtures("searchable")
def test_hybrid_search_ranks_a_row_of_both_legs_first(client: Client, text_index: str) -> None:
    result = client.hybrid_search(text_index, "dog", NEAR, top_k=6)
    assert result.ids[0] == "dog1"  # second nearest, and the best dog
    assert result[0].vector_score is not None and result[0].text_score is not None


@pytest.mark.usefixtures("searchable")
def test_hybrid_alpha_one_is_the_vector_order(client: Client, text_index: str) -> None:
    hybrid = client.hybrid_search(text_index, "ocelot", NEAR, alpha=1, top_k=3)
    assert hybrid.ids == client.query(text_index, vector=NEAR, top_k=3).ids


@pytest.mark.usefixtures("searchable")
def test_hybrid_alpha_zero_is_the_text_order(client: Client, text_index: str) -> None:
    hybrid = client.hybrid_search(text_index, "dog", alpha=0, top_k=4)
    assert hybrid.ids == client.text_search(text_index, "dog", top_k=4).ids


@pytest.mark.usefixtures("searchable")
def test_hybrid_search_applies_the_filter_to_both_legs(client: Client, text_index: str) -> None:
    result = client.hybrid_search(text_index, "ocelot", NEAR, filter={"group": "y"}, top_k=10)
    assert set(result.ids) == {"dog2", "dog3", "cats"}  # nearest "near" and "rare" are x


@pytest.mark.usefixtures("searchable")
def test_hybrid_search_stays_in_its_namespace(client: Client, text_index: str) -> None:
    client.upsert(
        text_index, [{"id": "t-ocelot", "values": NEAR, "text": "ocelot"}], namespace="t1"
    )
    plain = client.hybrid_search(text_index, "ocelot", NEAR, top_k=10)
    tenant = client.hybrid_search(text_index, "ocelot", NEAR, top_k=10, namespace="t1")
    assert "t-ocelot" not in plain.ids and set(plain.ids) == {vid for vid, *_ in RECORDS}
    assert tenant.ids == ["t-ocelot"]


@pytest.mark.usefixtures("searchable")
def test_query_syntax_characters_are_searched_as_text(client: Client, text_index: str) -> None:
    for text in ["&|!():*'", "dog & !cat", "(ocelot", "dog:*"]:
        assert all(score > 0 for score in client.text_search(text_index, text).scores)
        assert len(client.hybrid_search(text_index, text, NEAR, top_k=3)) == 3


# -- stores that do not ----------------------------------------------------------------------


def test_other_stores_refuse_keyword_search(client: Client, text_index: str, provider: str) -> None:
    if provider in TEXT_PROVIDERS:
        pytest.skip(f"{provider} searches text")
    with pytest.raises(UnsupportedFeatureError, match="text_search"):
        client.text_search(text_index, "ocelot")
    with pytest.raises(UnsupportedFeatureError, match="hybrid_search"):
        client.hybrid_search(text_index, "ocelot", NEAR)
    with pytest.raises(UnsupportedFeatureError):
        client.hybrid_search(text_index, "ocelot", NEAR, alpha=1)  # not even vector-only


def test_pinecone_names_what_keyword_search_would_need(
    client: Client, text_index: str, provider: str
) -> None:
    if provider != "pinecone":
        pytest.skip("Pinecone's refusal")
    with pytest.raises(UnsupportedFeatureError) as info:
        client.text_search(text_index, "ocelot")
    message = str(info.value)
    assert "sparse-dense vectors" in message and "dotproduct index" in message
    assert "pgvector" in message and "qdrant" in message  # where to search words instead
