"""bulk_create into a table searched in place: its vector index built after many rows."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection

from tests.testapp.models import Document
from vectra_django.db.bulk import deferred_indexes

pytestmark = pytest.mark.django_db


def index_oid() -> int | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('document_embedding_hnsw')::oid")
        return cursor.fetchone()[0]


def docs(count: int, start: int = 0) -> list[Document]:
    return [
        Document(title=f"d{i}", embedding=[1.0, (i * 37) % 101, (i % 7) + 1])
        for i in range(start, start + count)
    ]


def search_plan() -> str:
    qs = Document.objects.vector_search([1, 2, 3], limit=3)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    return qs.explain()


def test_many_rows_into_an_empty_table_build_the_index_afterwards() -> None:
    before = index_oid()
    Document.objects.bulk_create(docs(1500))
    after = index_oid()
    assert after is not None and after != before  # dropped, then built over the rows
    assert "document_embedding_hnsw" in search_plan()
    (found,) = Document.objects.vector_search([1.0, 37.0, 2.0], limit=1)
    assert found.vector_score == pytest.approx(1.0)  # d1, or a row of the same direction


def test_a_few_rows_go_into_the_live_index() -> None:
    before = index_oid()
    Document.objects.bulk_create(docs(20))
    assert index_oid() == before


def test_many_rows_into_a_larger_table_go_into_the_live_index(settings) -> None:
    settings.VECTRA = {**settings.VECTRA}
    settings.VECTRA["default"] = {**settings.VECTRA["default"], "BUILD": {"MIN_ROWS": 10}}
    Document.objects.bulk_create(docs(100))
    before = index_oid()
    Document.objects.bulk_create(docs(50, start=100))
    assert index_oid() == before
    Document.objects.bulk_create(docs(200, start=150))  # more than the 150 stored
    assert index_oid() != before


def test_a_failed_bulk_create_keeps_the_index_and_writes_nothing() -> None:
    before = index_oid()
    rows = docs(1500)
    rows[-1].pk = rows[-2].pk = 10**9  # the same key twice: the insert fails at the end
    with pytest.raises(IntegrityError):
        Document.objects.bulk_create(rows)
    assert index_oid() == before
    assert Document.objects.count() == 0


def test_deferred_indexes_spans_several_bulk_creates() -> None:
    before = index_oid()
    with deferred_indexes(Document) as deferred:
        assert deferred and index_oid() is None
        for start in range(0, 600, 200):
            Document.objects.bulk_create(docs(200, start=start))
    assert index_oid() not in (None, before)
    assert Document.objects.count() == 600


def test_build_can_be_turned_off(settings) -> None:
    settings.VECTRA = {**settings.VECTRA}
    settings.VECTRA["default"] = {**settings.VECTRA["default"], "BUILD": {"DEFER": False}}
    before = index_oid()
    Document.objects.bulk_create(docs(1500))
    assert index_oid() == before


def test_a_table_without_vector_indexes_is_not_locked() -> None:
    from tests.testapp.models import RequiredVectorDocument

    with deferred_indexes(RequiredVectorDocument) as deferred, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE relation = %s::regclass "
            "AND mode = 'AccessExclusiveLock'",
            [RequiredVectorDocument._meta.db_table],
        )
        assert cursor.fetchone() == (0,)
    assert deferred is False
