from __future__ import annotations

import pytest

from vectra_django import Match, QueryResult, Vector


@pytest.fixture
def result() -> QueryResult:
    return QueryResult(
        [Match("a", 0.9, 0.1, metadata={"k": 1}), Match("b", 0.5, 0.5), Match("c", 0.2, 0.8)],
        index="docs",
    )


def test_query_result_is_a_sequence(result: QueryResult) -> None:
    assert len(result) == 3
    assert result[0].id == "a"
    assert [m.id for m in result] == ["a", "b", "c"]
    assert isinstance(result[1:], QueryResult) and result[1:].ids == ["b", "c"]


def test_query_result_ids_scores_first(result: QueryResult) -> None:
    assert result.ids == ["a", "b", "c"]
    assert result.scores == [0.9, 0.5, 0.2]
    assert result.first == Match("a", 0.9, 0.1, metadata={"k": 1})
    assert QueryResult([]).first is None and QueryResult([]).empty


def test_query_result_above_score(result: QueryResult) -> None:
    assert result.above_score(0.5).ids == ["a", "b"]


def test_query_result_to_dict(result: QueryResult) -> None:
    data = result.to_dict()
    assert data["index"] == "docs"
    assert data["matches"][0] == {
        "id": "a",
        "score": 0.9,
        "distance": 0.1,
        "values": None,
        "metadata": {"k": 1},
        "vector_score": None,
        "text_score": None,
    }


def test_query_result_equality_and_repr(result: QueryResult) -> None:
    assert result == QueryResult(list(result))
    assert result != QueryResult(list(result)[:1])
    assert "matches=3" in repr(result)


def test_vector_to_dict_and_dimension() -> None:
    v = Vector("a", [1.0, 2.0], {"k": "v"}, "ns")
    assert v.dimension == 2
    assert v.to_dict() == {
        "id": "a",
        "values": [1.0, 2.0],
        "metadata": {"k": "v"},
        "text": None,
        "namespace": "ns",
    }
