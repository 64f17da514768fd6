"""Input validation: every bad value is a ValidationError that names it."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from vectra_django import Vector
from vectra_django.client import validation
from vectra_django.errors import ValidationError


@pytest.mark.parametrize("name", ["docs", "a-b_c", "x" * 63, "0"])
def test_index_name_accepts_valid(name) -> None:
    assert validation.index_name(name) == name


@pytest.mark.parametrize("name", ["", "Docs", "a b", "x" * 64, "a;drop", 'a"b', None, 3])
def test_index_name_rejects_invalid(name) -> None:
    with pytest.raises(ValidationError, match="Invalid index name"):
        validation.index_name(name)


def test_namespace_none_is_default() -> None:
    assert validation.namespace(None) == ""
    assert validation.namespace("tenant:1.a-b_c") == "tenant:1.a-b_c"


@pytest.mark.parametrize("ns", ["a b", "x" * 129, "a/b", "'; --", 5])
def test_namespace_rejects_invalid(ns) -> None:
    with pytest.raises(ValidationError, match="Invalid namespace"):
        validation.namespace(ns)


@pytest.mark.parametrize("vid", ["", "x" * 513, "a\x00b"])
def test_vector_id_rejects_invalid(vid) -> None:
    with pytest.raises(ValidationError, match="Invalid vector id"):
        validation.vector_id(vid)


def test_vector_id_must_be_a_string() -> None:
    with pytest.raises(ValidationError, match="must be a string"):
        validation.vector_id(12)


def test_vector_ids_rejects_duplicates() -> None:
    with pytest.raises(ValidationError, match="Duplicate vector id 'a'"):
        validation.vector_ids(["a", "b", "a"])


def test_vector_ids_rejects_a_bare_string_and_empty_list() -> None:
    with pytest.raises(ValidationError):
        validation.vector_ids("abc")
    with pytest.raises(ValidationError, match="must not be empty"):
        validation.vector_ids([])


@pytest.mark.parametrize("value", [0, -1, 16_001, 2.5, True, "3"])
def test_dimension_rejects_out_of_range(value) -> None:
    with pytest.raises(ValidationError, match="dimension"):
        validation.dimension(value)


@pytest.mark.parametrize("value", [0, -5, 10_001, 1.5, True, None])
def test_top_k_bounds(value) -> None:
    with pytest.raises(ValidationError, match="top_k"):
        validation.top_k(value)


def test_metric_must_be_known() -> None:
    with pytest.raises(ValidationError, match="Unknown metric 'manhattan'"):
        validation.metric("manhattan")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([1.0, float("nan")], "NaN or infinity"),
        ([1.0, float("inf")], "NaN or infinity"),
        ([], "is empty"),
        ("1,2", "sequence of numbers"),
        (["a", "b"], "only numbers"),
        ([[1.0], [2.0]], "one-dimensional"),
        (None, "sequence of numbers"),
    ],
)
def test_as_array_rejects_bad_vectors(values, message) -> None:
    with pytest.raises(ValidationError, match=message):
        validation.as_array(values)


def test_as_array_checks_expected_dimension() -> None:
    with pytest.raises(ValidationError, match="dimension 2, but the index expects 3"):
        validation.as_array([1.0, 2.0], expected_dimension=3)


def test_as_array_accepts_numpy_and_tuples() -> None:
    assert validation.as_array(np.array([1, 2], dtype=np.int64)).dtype == np.float32
    assert validation.as_array((1.5, 2.5)).tolist() == [1.5, 2.5]


def test_metadata_must_be_json_serialisable() -> None:
    with pytest.raises(ValidationError, match="not JSON-serialisable"):
        validation.metadata({"when": object()})
    with pytest.raises(ValidationError, match="not JSON-serialisable"):
        validation.metadata({"x": float("nan")})
    with pytest.raises(ValidationError, match="keys must be strings"):
        validation.metadata({1: "a"})
    with pytest.raises(ValidationError, match="must be a dict"):
        validation.metadata(["a"])


def test_batch_from_dicts_and_vectors() -> None:
    batch = validation.batch(
        [{"id": "a", "values": [1, 2], "metadata": {"k": 1}}, Vector("b", [3.0, 4.0])]
    )
    assert batch.ids == ["a", "b"]
    assert batch.values.shape == (2, 2)
    assert batch.metadata == [{"k": 1}, {}]


def test_batch_from_matrix() -> None:
    batch = validation.batch(ids=["a", "b"], values=np.ones((2, 3)), metadata=[{"x": 1}, None])
    assert batch.metadata == [{"x": 1}, {}]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"vectors": [{"id": "a", "values": [1.0]}, {"id": "b", "values": [1.0, 2.0]}]},
            "'b' has dimension 2",
        ),
        ({"vectors": [{"id": "a"}]}, "needs 'id' and 'values'"),
        ({"vectors": [{"id": "a", "values": [1.0], "extra": 1}]}, "unknown keys"),
        ({"vectors": ["abc"]}, "must be a dict or Vector"),
        ({"vectors": {"id": "a", "values": [1.0]}}, "list of dicts"),
        ({"vectors": []}, "must not be empty"),
        ({"vectors": [{"id": "a", "values": "12"}]}, "sequence of numbers"),
        ({"ids": ["a", "b"], "values": np.ones((3, 2))}, "2 ids but 3 rows"),
        ({"ids": ["a"], "values": np.ones(2)}, "2-D array"),
        ({"ids": ["a"], "values": np.ones((1, 2)), "metadata": [{}, {}]}, "1 ids but 2 metadata"),
        ({"ids": ["a"]}, "needs vectors"),
        ({"vectors": [], "ids": ["a"]}, "not both"),
    ],
)
def test_batch_rejects_bad_input(kwargs, message) -> None:
    with pytest.raises(ValidationError, match=message):
        validation.batch(**kwargs)


def test_batch_chunks_keep_rows_aligned() -> None:
    batch = validation.batch(ids=[str(i) for i in range(5)], values=np.arange(10).reshape(5, 2))
    chunks = list(batch.chunks(2))
    assert [c.ids for c in chunks] == [["0", "1"], ["2", "3"], ["4"]]
    assert chunks[1].values.tolist() == [[4.0, 5.0], [6.0, 7.0]]


def test_lists_convert_exactly_as_numpy_does() -> None:
    rng = np.random.default_rng(7)
    floats = (rng.standard_normal((50, 16)) * 10.0 ** rng.integers(-40, 38, (50, 16))).tolist()
    floats[0][:6] = [0.0, -0.0, 1e-45, 3.4e38, 7, np.float32(0.25)]  # an int, a numpy scalar
    expected = np.asarray(floats, dtype=np.float64).astype(np.float32)
    matrix = validation.as_matrix(floats)
    assert matrix.dtype == np.float32 and matrix.flags.writeable
    assert matrix.tobytes() == expected.tobytes()
    assert validation.as_array(floats[1]).tobytes() == expected[1].tobytes()


def test_a_vector_of_booleans_is_refused_even_among_numbers() -> None:
    batch = {"ids": ["a", "b"], "values": [[0.5, 1.0], [True, False]]}
    with pytest.raises(ValidationError, match="got booleans"):
        validation.batch(**batch)
    with pytest.raises(ValidationError, match="got booleans"):
        validation.as_array([False, True])


def test_zeros_and_ones_and_booleans_among_numbers_are_numbers() -> None:
    matrix = validation.as_matrix([[1.0, 0.0, 1.0], [True, 0.5, 0], [1, 1, 0]])
    assert matrix.tolist() == [[1, 0, 1], [1, 0.5, 0], [1, 1, 0]]


@pytest.mark.parametrize("number", [Decimal("0.25"), Fraction(1, 4), np.float64(0.25)])
def test_other_real_numbers_are_taken_in_lists_tuples_and_arrays(number) -> None:
    for values in ([number, 1.0], (number, 1.0), np.array([number, 1.0], dtype=object)):
        assert validation.as_array(values).tolist() == [0.25, 1.0]
    assert validation.as_matrix([(number, 1.0), (0.5, number)]).tolist() == [
        [0.25, 1.0],
        [0.5, 0.25],
    ]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([[0.5, "1.5"]], "non-numeric"),
        ([[0.5, None]], "non-numeric"),
        ([[0.5, [1.0]]], "only numbers"),
        ([[0.5, 1e39]], "NaN or infinity"),
        ([[0.5, 10**400]], "non-numeric"),
        ([[0.5, Decimal("NaN")]], "NaN or infinity"),
        ([[0.5, object()]], "non-numeric"),
    ],
)
def test_what_lists_cannot_hold_gets_the_same_errors(values, message) -> None:
    with pytest.raises(ValidationError, match=message):
        validation.as_matrix(values)


@pytest.mark.parametrize(
    "value",
    [
        {"title": 'Caf\u00e9 \u2028 "quoted" \\ \n', "n": 3, "x": 2.5, "big": 10**30},
        {"nested": {"list": [1, None, True, False, "s", {"k": -0.0}]}, "e": 1e-300},
        {},
    ],
)
def test_metadata_json_is_the_standard_compact_encoding(value) -> None:
    import json

    batch = validation.batch(ids=["a"], values=[[1.0]], metadata=[value])
    assert batch.metadata_json == [json.dumps(value, separators=(",", ":")).encode()]


def test_circular_and_non_finite_metadata_are_refused_by_name() -> None:
    circular: dict = {}
    circular["self"] = circular
    with pytest.raises(ValidationError, match=r"'a'.*Circular reference"):
        validation.batch(ids=["a"], values=[[1.0]], metadata=[circular])
    with pytest.raises(ValidationError, match=r"'a'.*Out of range float"):
        validation.batch(ids=["a"], values=[[1.0]], metadata=[{"x": float("nan")}])
