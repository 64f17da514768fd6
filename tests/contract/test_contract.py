"""Behaviour every provider must show; parametrised over providers by ``client``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from django.test import override_settings

from vectra_django import Client, QueryResult, Vector, on_operation
from vectra_django.errors import NotFoundError, ValidationError
from vectra_django.instrumentation import clear_handlers

from .filter_cases import CASES, CORPUS


def unit(*values: float) -> list[float]:
    arr = np.asarray(values, dtype=float)
    return (arr / np.linalg.norm(arr)).tolist()


@pytest.fixture
def docs(client: Client, index_name: str) -> str:
    client.create_index(index_name, dimension=3, metric="cosine")
    client.upsert(
        index_name,
        [
            {"id": "a", "values": unit(1, 0, 0), "metadata": {"category": "x"}},
            {"id": "b", "values": unit(1, 1, 0), "metadata": {"category": "y"}},
            {"id": "c", "values": unit(0, 0, 1), "metadata": {"category": "x"}},
        ],
    )
    return index_name


def test_create_index_is_listed_and_described(client: Client, index_name: str) -> None:
    client.create_index(index_name, dimension=4, metric="euclidean")
    assert index_name in client.list_indexes()
    described = client.describe_index(index_name)
    assert (described["name"], described["dimension"], described["metric"]) == (
        index_name,
        4,
        "euclidean",
    )


def test_create_index_twice_with_same_shape_is_a_no_op(client: Client, index_name: str) -> None:
    client.create_index(index_name, dimension=4)
    client.create_index(index_name, dimension=4)
    assert client.list_indexes().count(index_name) == 1


def test_create_index_with_other_dimension_is_rejected(client: Client, index_name: str) -> None:
    client.create_index(index_name, dimension=4)
    with pytest.raises(ValidationError, match="dimension"):
        client.create_index(index_name, dimension=5)


def test_delete_index_removes_it(client: Client, index_name: str) -> None:
    client.create_index(index_name, dimension=2)
    client.delete_index(index_name)
    assert index_name not in client.list_indexes()
    with pytest.raises(NotFoundError):
        client.describe_index(index_name)


def test_missing_index_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.query("no-such-index", vector=[1.0, 0.0], top_k=1)


def test_query_orders_by_cosine_similarity(client: Client, docs: str) -> None:
    result = client.query(docs, vector=unit(1, 0, 0), top_k=3)
    assert isinstance(result, QueryResult)
    assert result.ids == ["a", "b", "c"]
    assert result.scores[0] == pytest.approx(1.0, abs=1e-5)
    assert result.scores[1] == pytest.approx(np.sqrt(0.5), abs=1e-5)
    assert result.scores[2] == pytest.approx(0.0, abs=1e-5)
    assert result[0].distance == pytest.approx(0.0, abs=1e-5)


def test_query_top_k_limits_results(client: Client, docs: str) -> None:
    assert len(client.query(docs, vector=unit(1, 0, 0), top_k=2)) == 2


def test_query_score_threshold_drops_weak_matches(client: Client, docs: str) -> None:
    result = client.query(docs, vector=unit(1, 0, 0), top_k=3, score_threshold=0.5)
    assert result.ids == ["a", "b"]


def test_query_unrequested_values_and_metadata_are_none(client: Client, docs: str) -> None:
    match = client.query(docs, vector=unit(1, 0, 0), top_k=1, include_metadata=False)[0]
    assert match.values is None and match.metadata is None


def test_query_returns_values_and_metadata_when_asked(client: Client, docs: str) -> None:
    match = client.query(docs, vector=unit(1, 0, 0), top_k=1, include_values=True)[0]
    assert match.values == pytest.approx(unit(1, 0, 0), abs=1e-6)
    assert match.metadata == {"category": "x"}


def test_query_by_stored_id(client: Client, docs: str) -> None:
    assert client.query(docs, id="c", top_k=1).ids == ["c"]


def test_query_with_filter(client: Client, docs: str) -> None:
    result = client.query(docs, vector=unit(1, 0, 0), top_k=3, filter={"category": "x"})
    assert result.ids == ["a", "c"]


def test_euclidean_score_is_one_over_one_plus_distance(client: Client, index_name: str) -> None:
    client.create_index(index_name, dimension=2, metric="euclidean")
    client.upsert(index_name, [{"id": "p", "values": [3.0, 4.0]}])
    match = client.query(index_name, vector=[0.0, 0.0], top_k=1)[0]
    assert match.distance == pytest.approx(5.0, rel=1e-5)
    assert match.score == pytest.approx(1 / 6, rel=1e-5)


def test_dotproduct_score_is_inner_product(client: Client, index_name: str) -> None:
    client.create_index(index_name, dimension=2, metric="dotproduct")
    client.upsert(
        index_name, [{"id": "p", "values": [1.0, 2.0]}, {"id": "q", "values": [3.0, 1.0]}]
    )
    result = client.query(index_name, vector=[2.0, 1.0], top_k=2)
    assert result.ids == ["q", "p"]
    assert result.scores == pytest.approx([7.0, 4.0], rel=1e-5)


def test_a_zero_query_vector_is_rejected_under_cosine(client: Client, docs: str) -> None:
    with pytest.raises(ValidationError, match="all zeros"):
        client.query(docs, vector=[0.0, 0.0, 0.0], top_k=3)


def test_a_zero_query_vector_is_fine_under_other_metrics(client: Client, index_name: str) -> None:
    client.create_index(index_name, dimension=2, metric="euclidean")
    client.upsert(index_name, [{"id": "p", "values": [3.0, 4.0]}])
    assert client.query(index_name, vector=[0.0, 0.0], top_k=1).ids == ["p"]


def test_a_stored_zero_vector_scores_zero_under_cosine(client: Client, index_name: str) -> None:
    client.create_index(index_name, dimension=2, metric="cosine")
    items = [
        {"id": "same", "values": [1.0, 0.0]},
        {"id": "zero", "values": [0.0, 0.0]},
        {"id": "opposite", "values": [-1.0, 0.0]},
    ]
    if client.provider_name == "pinecone":  # Pinecone stores no zero vector, in any metric
        with pytest.raises(ValidationError, match="all zeros"):
            client.upsert(index_name, items)
        assert client.stats(index_name)["total_vector_count"] == 0  # nothing half-written
        return
    client.upsert(index_name, items)
    result = client.query(index_name, vector=[1.0, 0.0], top_k=3)
    scores = dict(zip(result.ids, result.scores, strict=True))
    assert scores["zero"] == pytest.approx(0.0, abs=1e-6)
    assert result[result.ids.index("zero")].distance == pytest.approx(1.0, abs=1e-6)
    assert not any(np.isnan(s) for s in result.scores)
    above = client.query(index_name, vector=[1.0, 0.0], top_k=3, score_threshold=-0.5)
    assert sorted(above.ids) == ["same", "zero"]


def test_upsert_same_id_replaces(client: Client, docs: str) -> None:
    client.upsert(docs, [{"id": "a", "values": unit(0, 1, 0), "metadata": {"category": "z"}}])
    fetched = client.fetch(docs, ["a"])["a"]
    assert fetched.values == pytest.approx(unit(0, 1, 0), abs=1e-6)
    assert fetched.metadata == {"category": "z"}
    assert client.stats(docs)["total_vector_count"] == 3


def test_upsert_numpy_matrix_fast_path(client: Client, index_name: str) -> None:
    client.create_index(index_name, dimension=4)
    matrix = np.random.default_rng(0).random((50, 4), dtype=np.float32)
    ids = [f"v{i}" for i in range(50)]
    assert client.upsert(index_name, ids=ids, values=matrix)["upserted_count"] == 50
    assert client.fetch(index_name, ["v7"])["v7"].values == pytest.approx(
        matrix[7].tolist(), abs=1e-6
    )


def test_upsert_is_chunked_by_batch_size(client: Client, index_name: str) -> None:
    small = client.bind()
    small.batch_size = 7
    client.create_index(index_name, dimension=2)
    rows = [{"id": str(i), "values": [1.0, float(i)]} for i in range(30)]
    assert small.upsert(index_name, rows)["upserted_count"] == 30
    assert client.stats(index_name)["total_vector_count"] == 30


def test_upsert_rejects_bad_item_before_writing(client: Client, docs: str) -> None:
    with pytest.raises(ValidationError, match="'bad'"):
        client.upsert(
            docs,
            [
                {"id": "new", "values": unit(1, 2, 3)},
                {"id": "bad", "values": [1.0, float("nan"), 0.0]},
            ],
        )
    assert client.fetch(docs, ["new"]) == {}


def test_upsert_rejects_wrong_dimension(client: Client, docs: str) -> None:
    with pytest.raises(ValidationError, match="dimension 2"):
        client.upsert(docs, [{"id": "x", "values": [1.0, 2.0]}])


def test_fetch_returns_vectors_and_skips_missing(client: Client, docs: str) -> None:
    fetched = client.fetch(docs, ["a", "missing"])
    assert set(fetched) == {"a"}
    assert isinstance(fetched["a"], Vector)
    assert fetched["a"].metadata == {"category": "x"}


def test_update_merges_metadata(client: Client, docs: str) -> None:
    client.update(docs, "a", metadata={"extra": 1})
    assert client.fetch(docs, ["a"])["a"].metadata == {"category": "x", "extra": 1}


def test_update_values_keeps_metadata(client: Client, docs: str) -> None:
    client.update(docs, "a", values=unit(0, 1, 1))
    fetched = client.fetch(docs, ["a"])["a"]
    assert fetched.values == pytest.approx(unit(0, 1, 1), abs=1e-6)
    assert fetched.metadata == {"category": "x"}


def test_update_missing_id_is_not_found(client: Client, docs: str) -> None:
    with pytest.raises(NotFoundError):
        client.update(docs, "nope", metadata={"k": 1})


def test_update_with_nothing_is_rejected(client: Client, docs: str) -> None:
    with pytest.raises(ValidationError):
        client.update(docs, "a")


def test_delete_by_ids(client: Client, docs: str) -> None:
    client.delete(docs, ["a", "b"])
    assert set(client.fetch(docs, ["a", "b", "c"])) == {"c"}


def test_delete_by_filter(client: Client, docs: str) -> None:
    client.delete(docs, filter={"category": "x"})
    assert set(client.fetch(docs, ["a", "b", "c"])) == {"b"}


def test_delete_all_empties_only_that_namespace(client: Client, docs: str) -> None:
    client.upsert(docs, [{"id": "a", "values": unit(1, 0, 0)}], namespace="other")
    client.delete(docs, delete_all=True)
    assert client.stats(docs)["namespaces"] == {"other": {"vector_count": 1}}


def test_delete_without_selector_is_rejected(client: Client, docs: str) -> None:
    with pytest.raises(ValidationError):
        client.delete(docs)


def test_namespaces_are_isolated(client: Client, docs: str) -> None:
    client.upsert(
        docs, [{"id": "a", "values": unit(0, 1, 0), "metadata": {"ns": 1}}], namespace="t1"
    )
    assert client.fetch(docs, ["a"])["a"].metadata == {"category": "x"}
    assert client.fetch(docs, ["a"], namespace="t1")["a"].metadata == {"ns": 1}
    assert client.query(docs, vector=unit(1, 0, 0), top_k=10, namespace="t1").ids == ["a"]
    client.delete(docs, ["a"], namespace="t1")
    assert "a" in client.fetch(docs, ["a"])


def test_stats_counts_every_namespace(client: Client, docs: str) -> None:
    client.upsert(docs, [{"id": "z", "values": unit(1, 1, 1)}], namespace="t2")
    stats = client.stats(docs)
    assert stats["total_vector_count"] == 4
    assert stats["dimension"] == 3
    assert stats["namespaces"] == {"": {"vector_count": 3}, "t2": {"vector_count": 1}}
    assert stats["vector_count"] == 3
    assert sorted(client.list_namespaces(docs)) == ["", "t2"]


def test_bound_client_is_a_new_object(client: Client, docs: str) -> None:
    bound = client.bind(index=docs, namespace="t3")
    assert bound is not client and client.default_index is None
    bound.upsert(vectors=[{"id": "q", "values": unit(1, 0, 0)}])
    assert bound.fetch(ids=["q"]) and client.fetch(docs, ["q"]) == {}


# -- listing ids (vectra_reindex --remove pages through an index with it) -------------------


@pytest.fixture
def listed(client: Client, index_name: str) -> str:
    """Eleven ids in the default namespace (two families) and two in another namespace."""
    client.create_index(index_name, dimension=2)
    ids = [f"doc_{i}" for i in range(8)] + ["img_1", "img_2", "img_3"]
    client.upsert(index_name, ids=ids, values=[[1.0, 0.5]] * len(ids))
    client.upsert(index_name, ids=["doc_x", "zzz"], values=[[1.0, 0.5]] * 2, namespace="t4")
    return index_name


def pages_read(client: Client, run: Callable[[], object]) -> int:
    """How many pages ``run()`` read, counted from the ``list_ids`` events."""
    events: list = []
    with override_settings(VECTRA_INSTRUMENTATION=True):
        on_operation(events.append)
        try:
            run()
        finally:
            clear_handlers()
    return sum(e.operation == "list_ids" for e in events)


def test_list_ids_lists_the_namespace(client: Client, listed: str) -> None:
    ids = list(client.list_ids(listed))
    assert sorted(ids) == sorted([f"doc_{i}" for i in range(8)] + ["img_1", "img_2", "img_3"])
    assert len(ids) == len(set(ids))


def test_list_ids_by_prefix(client: Client, listed: str) -> None:
    assert sorted(client.list_ids(listed, prefix="img_")) == ["img_1", "img_2", "img_3"]
    assert list(client.list_ids(listed, prefix="nothing-")) == []


def test_list_ids_pages_through_everything_once(client: Client, listed: str) -> None:
    seen: list[str] = []
    pages = pages_read(client, lambda: seen.extend(client.list_ids(listed, page_size=3)))
    assert sorted(seen) == sorted(client.list_ids(listed)) and len(seen) == 11
    assert pages >= 4


def test_list_ids_pages_by_prefix(client: Client, listed: str) -> None:
    seen: list[str] = []
    pages = pages_read(
        client, lambda: seen.extend(client.list_ids(listed, prefix="doc_", page_size=3))
    )
    assert sorted(seen) == [f"doc_{i}" for i in range(8)]
    assert pages >= 3


def test_list_ids_never_crosses_namespaces(client: Client, listed: str) -> None:
    assert sorted(client.list_ids(listed, namespace="t4")) == ["doc_x", "zzz"]
    assert list(client.list_ids(listed, namespace="t4", prefix="doc_")) == ["doc_x"]
    assert list(client.list_ids(listed, namespace="empty")) == []


def test_deleting_listed_ids_while_paging_skips_none(client: Client, listed: str) -> None:
    seen: list[str] = []
    ids = client.list_ids(listed, page_size=2)
    for vid in ids:
        seen.append(vid)
        client.delete(listed, [vid])
    assert len(seen) == 11
    assert client.stats(listed)["namespaces"] == {"t4": {"vector_count": 2}}


def test_list_ids_of_a_missing_index_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError):
        list(client.list_ids("no-such-index"))


def test_list_ids_checks_its_arguments_at_once(client: Client, listed: str) -> None:
    with pytest.raises(ValidationError, match="page_size"):
        client.list_ids(listed, page_size=0)
    with pytest.raises(ValidationError, match="prefix"):
        client.list_ids(listed, prefix="a\x00")


def test_healthy(client: Client) -> None:
    assert client.healthy() is True


@pytest.fixture
def corpus(client: Client, index_name: str) -> str:
    client.create_index(index_name, dimension=2)
    client.upsert(
        index_name,
        [
            {"id": vid, "values": [1.0, i + 1.0], "metadata": meta}
            for i, (vid, meta) in enumerate(CORPUS.items())
        ],
    )
    return index_name


@pytest.mark.parametrize(("name", "spec", "expected"), CASES, ids=[c[0] for c in CASES])
def test_filter_semantics(
    client: Client, corpus: str, name: str, spec: dict, expected: set
) -> None:
    result = client.query(corpus, vector=[1.0, 1.0], top_k=100, filter=spec)
    assert set(result.ids) == expected


@pytest.mark.parametrize(("name", "spec", "expected"), CASES, ids=[c[0] for c in CASES])
def test_delete_by_filter_semantics(
    client: Client, corpus: str, name: str, spec: dict, expected: set
) -> None:
    client.delete(corpus, filter=spec)
    assert set(client.fetch(corpus, list(CORPUS))) == set(CORPUS) - expected
