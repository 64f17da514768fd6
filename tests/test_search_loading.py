"""What search results load: vector columns deferred unless include_values=True."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.testapp.models import Document, RemoteDocument
from vectra_django import clients

pytestmark = pytest.mark.django_db

VECTORS = {"east": [1, 0, 0], "north-east": [1, 1, 0], "north": [0, 1, 0]}


@pytest.fixture(autouse=True)
def immediate_sync(settings):
    settings.VECTRA_SYNC = "immediate"
    clients.reset()
    yield
    clients.reset()


@pytest.fixture(params=[Document, RemoteDocument], ids=["in-place", "remote"])
def model(request):
    for title, vector in VECTORS.items():
        request.param.objects.create(title=title, embedding=vector)
    return request.param


def test_results_defer_the_vector_column(model):
    results = list(model.objects.vector_search([1, 0.1, 0], limit=2))
    assert [d.title for d in results] == ["east", "north-east"]
    assert all("embedding" in d.get_deferred_fields() for d in results)
    # Reading it anyway works, with one query for that row.
    with CaptureQueriesContext(connection) as ctx:
        assert results[1].embedding == [1.0, 1.0, 0.0]
    assert len(ctx.captured_queries) == 1


def test_include_values_loads_the_vectors_with_the_rows(model):
    results = list(model.objects.vector_search([1, 0.1, 0], limit=2, include_values=True))
    assert all(d.get_deferred_fields() == set() for d in results)
    with CaptureQueriesContext(connection) as ctx:
        assert [d.embedding for d in results] == [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    assert ctx.captured_queries == []


def test_similar_from_a_search_result_loads_the_vector_it_needs(model):
    first = model.objects.vector_search([0.1, 1, 0], limit=1)[0]
    assert first.title == "north"
    similar = list(first.similar(limit=2, include_values=True))
    assert [d.title for d in similar] == ["north-east", "east"]
    assert similar[0].embedding == [1.0, 1.0, 0.0]


def test_only_and_defer_chosen_by_the_caller_are_kept(model):
    results = list(model.objects.only("title").vector_search([1, 0, 0], limit=1))
    assert results[0].get_deferred_fields() >= {"category", "status", "embedding"}
    assert results[0].vector_score == pytest.approx(1.0)


def test_values_querysets_are_searched_as_they_are():
    for title, vector in VECTORS.items():
        Document.objects.create(title=title, embedding=vector)
    rows = list(Document.objects.values("title").vector_search([0, 1, 0], limit=1))
    assert rows[0]["title"] == "north"
