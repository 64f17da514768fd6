"""Keyword and hybrid search on the client: validation, ranking and fusion on the memory store,
plus the pieces under them (Reciprocal Rank Fusion, tokens, BM25, sparse vectors)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from vectra_django import Client, Match
from vectra_django.client.fusion import rrf
from vectra_django.errors import NotFoundError, ValidationError
from vectra_django.providers import keywords

from .instrumentation_helpers import Recorder

# Each record: (id, values, text, metadata). "ocelot" is in one record only, "dog" in four.
RECORDS = [
    ("near", [1.0, 0.0, 0.0], None, {"group": "x"}),
    ("dog1", [0.9, 0.1, 0.0], "a dog barks at night", {"group": "x"}),
    ("dog2", [0.0, 1.0, 0.0], "the dog sleeps", {"group": "y"}),
    ("dog3", [0.0, 0.9, 0.1], "dog food and dog toys", {"group": "y"}),
    ("rare", [-0.1, 0.0, 1.0], "an ocelot chases a dog", {"group": "x"}),  # the farthest
    ("cats", [0.1, 0.0, 0.9], "cats purr loudly", {"group": "y"}),
]


def records(namespace_tag: str = "") -> list[dict]:
    return [
        {"id": vid + namespace_tag, "values": values, "text": text, "metadata": meta}
        for vid, values, text, meta in RECORDS
    ]


@pytest.fixture
def client() -> Client:
    c = Client(provider="memory", max_retries=0)
    c.create_index("docs", dimension=3)
    c.upsert("docs", records())
    return c


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\t\n "])
def test_empty_or_blank_text_is_refused(client: Client, text: str) -> None:
    with pytest.raises(ValidationError, match="empty"):
        client.text_search("docs", text)
    with pytest.raises(ValidationError, match="empty"):
        client.hybrid_search("docs", text, [1, 0, 0])


@pytest.mark.parametrize("text", [None, 42, b"dog", ["dog"]])
def test_a_non_string_query_is_refused(client: Client, text: object) -> None:
    with pytest.raises(ValidationError, match="must be a string"):
        client.text_search("docs", text)


def test_a_query_with_a_nul_byte_is_refused(client: Client) -> None:
    with pytest.raises(ValidationError, match="NUL"):
        client.text_search("docs", "dog\x00")
    with pytest.raises(ValidationError, match="NUL"):
        client.hybrid_search("docs", "dog\x00", [1, 0, 0])


def test_a_query_over_ten_thousand_characters_is_refused(client: Client) -> None:
    assert client.text_search("docs", "dog " + "x" * 9_996).ids  # exactly 10,000: searched
    with pytest.raises(ValidationError, match="10,000"):
        client.text_search("docs", "dog " + "x" * 9_997)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, True, False, "0.5", None, math.nan, math.inf])
def test_alpha_outside_zero_to_one_or_not_a_number_is_refused(
    client: Client, alpha: object
) -> None:
    with pytest.raises(ValidationError, match="alpha"):
        client.hybrid_search("docs", "dog", [1, 0, 0], alpha=alpha)


def test_hybrid_search_without_a_vector_needs_alpha_zero(client: Client) -> None:
    with pytest.raises(ValidationError, match="vector="):
        client.hybrid_search("docs", "dog")
    with pytest.raises(ValidationError, match="vector="):
        client.hybrid_search("docs", "dog", alpha=0.01)


def test_hybrid_search_with_alpha_zero_needs_no_vector(client: Client) -> None:
    result = client.hybrid_search("docs", "ocelot", alpha=0)
    assert result.ids == ["rare"]
    assert result[0].vector_score is None and result[0].distance is None


def test_hybrid_search_checks_the_vector_dimension(client: Client) -> None:
    with pytest.raises(ValidationError, match="dimension"):
        client.hybrid_search("docs", "dog", [1, 0])


def test_candidates_fewer_than_top_k_are_refused(client: Client) -> None:
    with pytest.raises(ValidationError, match="candidates=3"):
        client.hybrid_search("docs", "dog", [1, 0, 0], top_k=5, candidates=3)
    assert len(client.hybrid_search("docs", "dog", [1, 0, 0], top_k=3, candidates=3)) == 3


@pytest.mark.parametrize("value", [0, True, 2.5, 10_001])
def test_candidates_must_be_an_integer_from_one_to_ten_thousand(
    client: Client, value: object
) -> None:
    with pytest.raises(ValidationError, match="candidates"):
        client.hybrid_search("docs", "dog", [1, 0, 0], top_k=1, candidates=value)


@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_rrf_k_must_be_a_positive_integer(client: Client, value: object) -> None:
    with pytest.raises(ValidationError, match="rrf_k"):
        client.hybrid_search("docs", "dog", [1, 0, 0], rrf_k=value)


def test_top_k_is_checked(client: Client) -> None:
    with pytest.raises(ValidationError, match="top_k"):
        client.text_search("docs", "dog", top_k=0)


def test_a_bad_filter_is_refused_before_searching(client: Client) -> None:
    with pytest.raises(ValidationError, match=r"\$near"):
        client.text_search("docs", "dog", filter={"group": {"$near": 1}})


def test_a_missing_index_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.text_search("nope", "dog")


@pytest.mark.parametrize("text", ["&|!():*'", "dog & !cat", "(dog | ocelot)", "dog:*", "'dog'"])
def test_tsquery_syntax_characters_give_a_normal_result(client: Client, text: str) -> None:
    result = client.text_search("docs", text)
    assert all(isinstance(m, Match) and m.score > 0 for m in result)
    hybrid = client.hybrid_search("docs", text, [1, 0, 0])
    assert hybrid.scores == sorted(hybrid.scores, reverse=True)


def test_a_query_of_only_punctuation_matches_nothing(client: Client) -> None:
    assert client.text_search("docs", "&|!():*'").ids == []


# -- ranking ---------------------------------------------------------------------------------


def test_a_rare_exact_word_ranks_first(client: Client) -> None:
    result = client.text_search("docs", "ocelot dog")
    assert result.ids[0] == "rare"
    assert set(result.ids) == {"rare", "dog1", "dog2", "dog3"}


def test_records_without_a_query_word_are_left_out(client: Client) -> None:
    result = client.text_search("docs", "purr")
    assert result.ids == ["cats"]
    assert all(score > 0 for score in client.text_search("docs", "dog").scores)
    assert "near" not in client.text_search("docs", "dog").ids  # it has no text


def test_text_search_scores_are_descending_and_top_k_bounded(client: Client) -> None:
    result = client.text_search("docs", "dog", top_k=2)
    assert len(result) == 2
    assert result.scores == sorted(result.scores, reverse=True)


def test_case_and_stopwords_do_not_matter(client: Client) -> None:
    assert client.text_search("docs", "The OCELOT").ids == ["rare"]


def test_include_values_and_metadata_are_honoured(client: Client) -> None:
    bare = client.text_search("docs", "ocelot", include_metadata=False)
    assert bare[0].metadata is None and bare[0].values is None
    full = client.text_search("docs", "ocelot", include_values=True)
    assert full[0].metadata == {"group": "x"}
    assert full[0].values == pytest.approx([-0.1, 0.0, 1.0])


def test_the_filter_applies_to_the_text_search(client: Client) -> None:
    result = client.text_search("docs", "dog", filter={"group": "y"})
    assert set(result.ids) == {"dog2", "dog3"}


def test_the_filter_applies_to_both_legs_of_a_hybrid_search(client: Client) -> None:
    result = client.hybrid_search("docs", "dog", [1, 0, 0], filter={"group": "y"}, top_k=10)
    assert set(result.ids) == {"dog2", "dog3", "cats"}  # "near" and "dog1" are nearest: out
    assert all(m.metadata == {"group": "y"} for m in result)


def test_namespaces_apply_to_both_legs(client: Client) -> None:
    client.upsert("docs", records("-t1"), namespace="t1")
    plain = client.hybrid_search("docs", "ocelot", [1, 0, 0], top_k=10)
    tenant = client.hybrid_search("docs", "ocelot", [1, 0, 0], top_k=10, namespace="t1")
    assert not any(vid.endswith("-t1") for vid in plain.ids)
    assert tenant.ids and all(vid.endswith("-t1") for vid in tenant.ids)
    assert client.text_search("docs", "ocelot", namespace="t1").ids == ["rare-t1"]
    assert client.text_search("docs", "ocelot", namespace="t2").ids == []


def test_alpha_one_is_the_vector_order(client: Client) -> None:
    hybrid = client.hybrid_search("docs", "ocelot", [1, 0, 0], alpha=1, top_k=6)
    assert hybrid.ids == client.query("docs", vector=[1, 0, 0], top_k=6).ids
    assert all(m.text_score is None for m in hybrid)  # the text leg did not run


def test_alpha_zero_is_the_text_order(client: Client) -> None:
    hybrid = client.hybrid_search("docs", "ocelot dog", [1, 0, 0], alpha=0)
    assert hybrid.ids == client.text_search("docs", "ocelot dog").ids
    assert all(m.vector_score is None for m in hybrid)  # the vector leg did not run


def test_alpha_moves_a_record_between_the_legs(client: Client) -> None:
    # "near" is the nearest record and has no text; "rare" is the only ocelot, and too far
    # to be among the vector leg's 3 candidates: each is found by one leg only.
    def ids(alpha: float) -> list[str]:
        result = client.hybrid_search(
            "docs", "ocelot", [1, 0, 0], alpha=alpha, top_k=3, candidates=3
        )
        return result.ids

    vector_heavy, text_heavy = ids(0.9), ids(0.1)
    assert vector_heavy[0] == "near"
    assert text_heavy[0] == "rare"


def test_equal_weights_put_a_record_found_by_both_legs_first(client: Client) -> None:
    result = client.hybrid_search("docs", "dog", [1, 0, 0], alpha=0.5)
    assert result.ids[0] == "dog1"  # second nearest and a dog: in both legs
    assert result[0].vector_score is not None and result[0].text_score is not None


def test_a_leg_that_missed_a_record_leaves_its_score_none(client: Client) -> None:
    result = client.hybrid_search("docs", "ocelot", [1, 0, 0], top_k=3, candidates=3)
    by_id = {m.id: m for m in result}
    assert by_id["near"].text_score is None and by_id["near"].vector_score == pytest.approx(1.0)
    assert by_id["rare"].vector_score is None  # not among the 3 nearest
    assert by_id["rare"].text_score > 0 and by_id["rare"].distance is None


def test_hybrid_scores_are_the_weighted_reciprocal_ranks(client: Client) -> None:
    result = client.hybrid_search("docs", "ocelot", [1, 0, 0], alpha=0.25, rrf_k=10)
    by_id = {m.id: m for m in result}
    assert by_id["near"].score == pytest.approx(0.25 / 11)  # vector rank 1 only
    assert by_id["rare"].score == pytest.approx(0.25 / 16 + 0.75 / 11)  # vector 6, text 1


# -- records carrying text -------------------------------------------------------------------


def test_upsert_with_texts_on_the_ids_and_values_path() -> None:
    c = Client(provider="memory")
    c.create_index("docs", dimension=2)
    c.upsert("docs", ids=["a", "b"], values=np.eye(2), texts=["red fox", None])
    fetched = c.fetch("docs", ["a", "b"])
    assert (fetched["a"].text, fetched["b"].text) == ("red fox", None)
    assert c.text_search("docs", "fox").ids == ["a"]


def test_upsert_with_text_items_and_vector_objects(client: Client) -> None:
    from vectra_django import Vector

    client.upsert("docs", [Vector("v", [1.0, 1.0, 0.0], {"k": 1}, text="a wombat")])
    assert client.fetch("docs", ["v"])["v"].text == "a wombat"
    assert client.text_search("docs", "wombat").ids == ["v"]


def test_texts_must_match_the_ids_in_number() -> None:
    c = Client(provider="memory")
    c.create_index("docs", dimension=2)
    with pytest.raises(ValidationError, match="2 ids but 1 texts"):
        c.upsert("docs", ids=["a", "b"], values=np.eye(2), texts=["red fox"])


@pytest.mark.parametrize(
    ("text", "message"), [(42, "must be a string"), (b"fox", "must be a string"), ("f\x00x", "NUL")]
)
def test_a_bad_record_text_is_refused_and_nothing_is_written(
    client: Client, text: object, message: str
) -> None:
    batch = [
        {"id": "new1", "values": [1.0, 0.0, 0.0], "text": "fine words"},
        {"id": "new2", "values": [0.0, 1.0, 0.0], "text": text},
    ]
    with pytest.raises(ValidationError, match=message) as info:
        client.upsert("docs", batch)
    assert "new2" in str(info.value)
    assert client.fetch("docs", ["new1", "new2"]) == {}


def test_a_bad_text_on_the_ids_path_writes_nothing() -> None:
    c = Client(provider="memory")
    c.create_index("docs", dimension=2)
    with pytest.raises(ValidationError, match="'b'"):
        c.upsert("docs", ids=["a", "b"], values=np.eye(2), texts=["fine", 7])
    assert c.stats("docs")["total_vector_count"] == 0


def test_fetch_returns_the_text_and_to_dict_carries_it(client: Client) -> None:
    vector = client.fetch("docs", ["rare"])["rare"]
    assert vector.text == "an ocelot chases a dog"
    assert vector.to_dict()["text"] == "an ocelot chases a dog"
    assert client.fetch("docs", ["near"])["near"].text is None


def test_update_keeps_the_text(client: Client) -> None:
    client.update("docs", "rare", metadata={"extra": True}, values=[0.0, 0.5, 0.5])
    assert client.fetch("docs", ["rare"])["rare"].text == "an ocelot chases a dog"
    assert client.text_search("docs", "ocelot").ids == ["rare"]


def test_upserting_a_record_again_without_text_clears_its_text(client: Client) -> None:
    client.upsert("docs", [{"id": "rare", "values": [0.0, 0.0, 1.0]}])
    assert client.fetch("docs", ["rare"])["rare"].text is None
    assert client.text_search("docs", "ocelot").ids == []


def test_bulk_load_batches_may_carry_texts() -> None:
    c = Client(provider="memory")
    c.create_index("docs", dimension=2)
    c.bulk_load(
        "docs",
        [
            {"ids": ["a", "b"], "values": np.eye(2), "texts": ["red fox", "blue whale"]},
            [{"id": "c", "values": [1.0, 1.0], "text": "red panda"}],
        ],
    )
    assert set(c.text_search("docs", "red").ids) == {"a", "c"}
    assert c.fetch("docs", ["b"])["b"].text == "blue whale"


def test_bulk_load_refuses_a_bad_text() -> None:
    c = Client(provider="memory")
    c.create_index("docs", dimension=2)
    with pytest.raises(ValidationError, match="NUL"):
        c.bulk_load("docs", [{"ids": ["a"], "values": [[1.0, 0.0]], "texts": ["x\x00"]}])
    assert c.stats("docs")["total_vector_count"] == 0


# -- instrumentation -------------------------------------------------------------------------


@pytest.fixture
def recorder(settings) -> Recorder:
    settings.VECTRA_INSTRUMENTATION = True
    return Recorder()


def test_text_search_emits_an_event(client: Client, recorder: Recorder) -> None:
    client.text_search("docs", "dog", top_k=2, namespace="t1")
    event = recorder.only("text_search")
    assert (event.provider, event.index, event.namespace) == ("memory", "docs", "t1")
    assert event.metadata["top_k"] == 2 and event.metadata["result_count"] == 0
    assert event.success


def test_hybrid_search_emits_an_event(client: Client, recorder: Recorder) -> None:
    client.hybrid_search("docs", "dog", [1, 0, 0], top_k=3)
    event = recorder.only("hybrid_search")
    assert (event.provider, event.index) == ("memory", "docs")
    assert event.metadata["result_count"] == 3
    assert event.success


def test_a_failed_search_emits_an_event_with_the_error(client: Client, recorder: Recorder) -> None:
    with pytest.raises(NotFoundError):
        client.text_search("gone", "dog")
    event = recorder.only("text_search")
    assert event.failure and isinstance(event.error, NotFoundError)


# -- fusion ----------------------------------------------------------------------------------


def leg(*ids: str) -> list[Match]:
    return [
        Match(id=vid, score=1.0 / rank, distance=float(rank)) for rank, vid in enumerate(ids, 1)
    ]


def test_rrf_sums_weighted_reciprocal_ranks() -> None:
    fused = rrf(leg("a", "b"), leg("b", "c"), vector_weight=0.5, text_weight=0.5, k=60, top_k=3)
    scores = {m.id: m.score for m in fused}
    assert scores["b"] == pytest.approx(0.5 / 62 + 0.5 / 61)
    assert scores["a"] == pytest.approx(0.5 / 61)
    assert scores["c"] == pytest.approx(0.5 / 62)
    assert [m.id for m in fused] == ["b", "a", "c"]


def test_rrf_keeps_each_legs_score_and_the_vector_distance() -> None:
    fused = rrf(leg("a"), leg("b"), vector_weight=1, text_weight=1, k=1, top_k=2)
    by_id = {m.id: m for m in fused}
    assert (by_id["a"].vector_score, by_id["a"].text_score, by_id["a"].distance) == (1.0, None, 1.0)
    assert (by_id["b"].vector_score, by_id["b"].text_score, by_id["b"].distance) == (
        None,
        1.0,
        None,
    )


def test_rrf_skips_a_leg_of_weight_zero() -> None:
    fused = rrf(leg("a", "b"), leg("c"), vector_weight=1, text_weight=0, k=60, top_k=5)
    assert [m.id for m in fused] == ["a", "b"]


def test_rrf_breaks_ties_by_id_and_cuts_at_top_k() -> None:
    fused = rrf(leg("b"), leg("a"), vector_weight=1, text_weight=1, k=60, top_k=1)
    assert [m.id for m in fused] == ["a"]


def test_rrf_of_two_empty_legs_is_empty() -> None:
    assert rrf([], [], vector_weight=0.5, text_weight=0.5, k=60, top_k=10) == []


# -- keywords --------------------------------------------------------------------------------


def test_tokens_are_lowercased_words_without_stopwords() -> None:
    assert keywords.tokens("The Quick, brown FOX; the end!") == ["quick", "brown", "fox", "end"]
    assert keywords.tokens(None) == [] and keywords.tokens("&|!():*'") == []
    assert keywords.tokens("Über café") == ["über", "café"]


def test_bm25_ranks_a_rare_term_above_a_common_one() -> None:
    docs = [Counter(["dog"]), Counter(["dog", "walk"]), Counter(["ocelot"]), Counter(["dog"])]
    scores = keywords.bm25(["dog", "ocelot"], docs)
    assert scores[2] == max(scores)
    assert scores[0] > scores[1] > 0  # the shorter of two dog documents ranks higher


def test_bm25_gives_zero_where_no_term_occurs() -> None:
    assert keywords.bm25(["cat"], [Counter(["dog"]), Counter()]) == [0.0, 0.0]
    assert keywords.bm25([], [Counter(["dog"])]) == [0.0]


def test_bm25_saturates_term_frequency() -> None:
    docs = [Counter({"dog": 1, "x": 9}), Counter({"dog": 10}), Counter({"cat": 10})]
    one, ten, _ = keywords.bm25(["dog"], docs)
    assert one < ten < one * (keywords.K1 + 1)


def test_term_ids_are_stable_31_bit_integers() -> None:
    assert keywords.term_id("fox") == keywords.term_id("fox")
    assert keywords.term_id("fox") != keywords.term_id("dog")
    assert 0 <= keywords.term_id("fox") < 2**31


def test_sparse_document_holds_saturated_frequencies() -> None:
    indices, values = keywords.sparse_document("fox fox dog")
    assert indices == sorted(indices)
    weights = dict(zip(indices, values, strict=True))
    k1 = keywords.K1
    assert weights[keywords.term_id("fox")] == pytest.approx(2 * (k1 + 1) / (2 + k1))
    assert weights[keywords.term_id("dog")] == pytest.approx(1.0)
    assert keywords.sparse_document(None) == ([], [])


def test_sparse_query_counts_each_term_once() -> None:
    indices, values = keywords.sparse_query("fox fox the dog")
    assert sorted(indices) == sorted({keywords.term_id("fox"), keywords.term_id("dog")})
    assert values == [1.0, 1.0]
