"""The filter language's limits: whole-string name and key rules, NUL characters, nesting
depth, and bounds beyond a column's range, on the client and on in-place ORM searches."""

from __future__ import annotations

import pytest

from tests.testapp.models import Document
from vectra_django import Client, clients
from vectra_django.client.filters import MAX_DEPTH, parse
from vectra_django.errors import ValidationError


@pytest.fixture
def memory():
    client = Client(provider="memory")
    client.create_index("docs", dimension=3)
    client.upsert("docs", vectors=[{"id": "a", "values": [1, 0, 0], "metadata": {"k": "v"}}])
    return client


@pytest.fixture
def pgvector(db):
    clients.reset()
    client = clients["default"]
    client.create_index("filter-limits", dimension=3)
    client.upsert(
        "filter-limits", vectors=[{"id": "a", "values": [1, 0, 0], "metadata": {"k": "v"}}]
    )
    yield client
    clients.reset()


def nested(depth: int) -> dict:
    spec: dict = {"k": "v"}
    for _ in range(depth):
        spec = {"$and": [spec, {"k": "v"}]}
    return spec


@pytest.mark.parametrize("key", ["title\n", "k\n", "k\x00", " k"])
def test_a_key_with_trailing_or_stray_characters_is_rejected(memory, key):
    with pytest.raises(ValidationError, match="Invalid filter key"):
        memory.query("docs", [1, 0, 0], filter={key: "v"})


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.create_index("docs\n", dimension=3), "index"),
        (lambda c: c.query("docs\n", [1, 0, 0]), "index"),
        (lambda c: c.query("docs", [1, 0, 0], namespace="ns\n"), "amespace"),
    ],
)
def test_names_with_a_trailing_newline_are_rejected(memory, call, message):
    with pytest.raises(ValidationError, match=message):
        call(memory)


def test_a_nul_in_a_filter_value_is_a_validation_error_on_memory(memory):
    with pytest.raises(ValidationError, match="NUL"):
        memory.query("docs", [1, 0, 0], filter={"k": "v\x00"})


def test_a_nul_in_a_filter_value_is_a_validation_error_on_pgvector(pgvector):
    for spec in ({"k": "v\x00"}, {"k": {"$in": ["a", "b\x00"]}}, {"k": {"$ne": "\x00"}}):
        with pytest.raises(ValidationError, match="NUL"):
            pgvector.query("filter-limits", [1, 0, 0], filter=spec)


@pytest.mark.django_db
def test_a_nul_in_an_orm_filter_value_is_a_validation_error():
    Document.objects.create(title="a", embedding=[1, 0, 0])
    with pytest.raises(ValidationError, match="NUL"):
        list(Document.objects.vector_search([1, 0, 0], filter={"title": "a\x00"}))


def test_nesting_is_capped_with_a_clear_message():
    assert parse(nested(MAX_DEPTH)) is not None
    for depth in (MAX_DEPTH + 1, 2000):
        with pytest.raises(ValidationError, match="nested more than"):
            parse(nested(depth))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "condition",
    [{"$lt": 10**30}, {"$lte": 10**30}, {"$gt": -(10**30)}, {"$gte": -(10**30)}, {"$lt": 1e300}],
)
def test_a_bound_beyond_the_columns_range_never_matches_a_missing_value(condition):
    Document.objects.create(title="dated", year=2020, embedding=[1, 0, 0])
    Document.objects.create(title="undated", year=None, embedding=[1, 0, 0])
    found = Document.objects.vector_search([1, 0, 0], limit=5, filter={"year": condition})
    assert [d.title for d in found] == ["dated"]
