"""The filter language as pure functions: parsing, validation errors and reference semantics."""

from __future__ import annotations

import pytest

from vectra_django.client import filters
from vectra_django.client.filters import And, Condition, Or
from vectra_django.errors import ValidationError

from .contract.filter_cases import CASES, CORPUS


def test_parse_none_and_empty_mean_no_filter() -> None:
    assert filters.parse(None) is None
    assert filters.parse({}) is None


def test_parse_scalar_is_eq() -> None:
    assert filters.parse({"k": "v"}) == Condition("k", "$eq", "v")


def test_parse_list_is_in() -> None:
    assert filters.parse({"k": ["a", "b"]}) == Condition("k", "$in", ("a", "b"))


def test_parse_several_keys_is_and() -> None:
    assert filters.parse({"a": 1, "b": {"$gt": 2}}) == And(
        (Condition("a", "$eq", 1), Condition("b", "$gt", 2))
    )


def test_parse_or_of_one_collapses() -> None:
    assert filters.parse({"$or": [{"a": 1}]}) == Condition("a", "$eq", 1)


def test_parse_nested_logical() -> None:
    tree = filters.parse({"$or": [{"a": 1}, {"$and": [{"b": 2}, {"c": 3}]}]})
    assert tree == Or(
        (Condition("a", "$eq", 1), And((Condition("b", "$eq", 2), Condition("c", "$eq", 3))))
    )


def test_parse_accepts_a_parsed_tree() -> None:
    node = Condition("a", "$eq", 1)
    assert filters.parse(node) is node


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"k": {"$regex": "x"}}, "unknown operator '\\$regex'"),
        ({"$not": [{"k": 1}]}, "unknown operator '\\$not'"),
        ({"$gt": 1}, "comparison operators go inside a field"),
        ({"k; DROP TABLE x": 1}, "Invalid filter key"),
        ({"1abc": 1}, "Invalid filter key"),
        ({"": 1}, "Invalid filter key"),
        ({"k": {"$gt": "2020"}}, "compares numbers only"),
        ({"k": {"$lt": True}}, "compares numbers only"),
        ({"k": {"$gte": float("nan")}}, "compares numbers only"),
        ({"k": {"$in": []}}, "non-empty list"),
        ({"k": {"$nin": "abc"}}, "non-empty list"),
        ({"k": {"$exists": 1}}, "\\$exists takes true or false"),
        ({"k": None}, "string, number or boolean"),
        ({"k": {"$eq": {"nested": 1}}}, "string, number or boolean"),
        ({"k": {"$eq": [1]}}, "string, number or boolean"),
        ({"k": {}}, "empty operator dict"),
        ({"$and": []}, "non-empty list"),
        ({"$or": {"a": 1}}, "non-empty list"),
        ({"$and": [1]}, "expected a non-empty dict"),
        ({1: "x"}, "keys must be strings"),
        ("category = 'x'", "must be a dict"),
    ],
)
def test_parse_rejects_bad_filter_naming_the_problem(spec, message) -> None:
    with pytest.raises(ValidationError, match=message):
        filters.parse(spec)


def test_keys_lists_every_key() -> None:
    assert filters.keys(filters.parse({"$or": [{"a": 1}, {"b": 2, "c": {"$exists": True}}]})) == {
        "a",
        "b",
        "c",
    }


@pytest.mark.parametrize(("name", "spec", "expected"), CASES, ids=[c[0] for c in CASES])
def test_evaluate_matches_the_shared_corpus(name, spec, expected) -> None:
    node = filters.parse(spec)
    assert {vid for vid, meta in CORPUS.items() if filters.evaluate(node, meta)} == expected


def test_values_equal_is_type_aware() -> None:
    assert filters.values_equal(1, 1.0)
    assert not filters.values_equal(True, 1)
    assert not filters.values_equal("1", 1)
    assert filters.values_equal(False, False)
