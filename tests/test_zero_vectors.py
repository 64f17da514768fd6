"""Zero vectors under cosine, on the ORM: a zero query vector is a ValidationError, a stored
zero vector scores 0 (distance 1), never NaN, in place and through a synced store."""

from __future__ import annotations

import math

import pytest
from django.db import connection

from tests.testapp.models import Document, RemoteDocument
from vectra_django.errors import ValidationError

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def immediate_sync(settings, fresh_clients):
    settings.VECTRA_SYNC = "immediate"


def test_a_zero_query_vector_is_a_validation_error_in_place():
    Document.objects.create(title="a", embedding=[1, 0, 0])
    with pytest.raises(ValidationError, match="all zeros"):
        Document.objects.vector_search([0, 0, 0])


def test_a_zero_query_vector_is_a_validation_error_on_a_synced_store():
    RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    with pytest.raises(ValidationError, match="all zeros"):
        RemoteDocument.objects.vector_search([0, 0, 0])


def test_similar_to_a_zero_vector_row_is_a_validation_error():
    zero = Document.objects.create(title="zero", embedding=[0, 0, 0])
    with pytest.raises(ValidationError, match="all zeros"):
        zero.similar()


def exact_scan():
    """pgvector's cosine HNSW index leaves zero vectors out (they have no direction to
    index): an exact scan is where a stored zero vector can come back."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")


@pytest.mark.parametrize("values", [False, True])
def test_a_stored_zero_vector_scores_zero_in_place(values):
    exact_scan()
    Document.objects.create(title="same", embedding=[1, 0, 0])
    Document.objects.create(title="zero", embedding=[0, 0, 0])
    Document.objects.create(title="opposite", embedding=[-1, 0, 0])
    qs = Document.objects.vector_search([1, 0, 0], limit=3)
    if values:
        rows = {r["title"]: r for r in qs.values("title", "vector_score", "vector_distance")}
    else:
        rows = {
            d.title: {"vector_score": d.vector_score, "vector_distance": d.vector_distance}
            for d in qs
        }
    assert rows["zero"]["vector_score"] == pytest.approx(0.0)
    assert rows["zero"]["vector_distance"] == pytest.approx(1.0)
    assert not any(math.isnan(r["vector_score"]) for r in rows.values())


def test_a_stored_zero_vector_passes_a_threshold_below_zero():
    exact_scan()
    Document.objects.create(title="zero", embedding=[0, 0, 0])
    Document.objects.create(title="opposite", embedding=[-1, 0, 0])
    found = Document.objects.vector_search([1, 0, 0], limit=3, score_threshold=-0.5)
    assert [d.title for d in found] == ["zero"]


def test_the_cosine_hnsw_index_leaves_zero_vectors_out():
    Document.objects.create(title="same", embedding=[1, 0, 0])
    Document.objects.create(title="zero", embedding=[0, 0, 0])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    qs = Document.objects.vector_search([1, 0, 0], limit=3)
    assert "document_embedding_hnsw" in qs.explain()
    assert [d.title for d in qs] == ["same"]


def test_a_stored_zero_vector_scores_zero_through_a_synced_store():
    RemoteDocument.objects.create(title="zero", embedding=[0, 0, 0])
    RemoteDocument.objects.create(title="same", embedding=[1, 0, 0])
    found = {d.title: d.vector_score for d in RemoteDocument.objects.vector_search([1, 0, 0])}
    assert found["zero"] == pytest.approx(0.0) and found["same"] == pytest.approx(1.0)
