"""values_rows: the binary bulk read behind vectra_reindex, on real PostgreSQL."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.db import connection
from django.db.models import DateTimeField, JSONField, Value
from django.test.utils import CaptureQueriesContext

from tests.testapp.models import Document
from vectra_django.db.reindex import stack_vectors, values_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def docs():
    return [
        Document.objects.create(title="a", category="x", year=2020, embedding=[0.1, 0.2, 0.3]),
        Document.objects.create(title="b", rating=1.5, embedding=None),
        Document.objects.create(title="c", pinned=True, embedding=[-1, 2.5, 1e-3]),
    ]


def test_rows_match_values_list_with_vectors_as_float32_arrays(docs):
    names = ["pk", "embedding", "title", "category", "year", "rating", "pinned"]
    qs = Document.objects.order_by("pk")
    expected = list(qs.values_list(*names))
    rows = values_rows(qs, *names)
    assert len(rows) == len(expected) == 3
    for row, want in zip(rows, expected, strict=True):
        assert row[2:] == want[2:]
        assert row[0] == want[0]
        if want[1] is None:
            assert row[1] is None
        else:
            assert row[1].dtype == np.float32 and row[1].flags.writeable
            assert row[1].tolist() == want[1]


def test_django_converters_still_apply_to_other_columns(docs):
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    qs = Document.objects.filter(pk=docs[0].pk).annotate(
        info=Value({"k": [1, "two"]}, output_field=JSONField()),
        at=Value(when, output_field=DateTimeField()),
    )
    [(info, at, vector)] = values_rows(qs, "info", "at", "embedding")
    assert info == {"k": [1, "two"]}
    assert at == when
    assert vector.tolist() == pytest.approx([0.1, 0.2, 0.3])


def test_the_query_is_logged_like_any_orm_query(docs):
    with CaptureQueriesContext(connection) as ctx:
        values_rows(Document.objects.filter(title="a"), "pk")
    assert len(ctx.captured_queries) == 1
    assert '"title"' in ctx.captured_queries[0]["sql"]


def test_empty_result_sets_need_no_query(docs):
    with CaptureQueriesContext(connection) as ctx:
        assert values_rows(Document.objects.filter(pk__in=[]), "pk", "embedding") == []
    assert ctx.captured_queries == []


def test_slices_and_filters_are_kept(docs):
    qs = Document.objects.order_by("-pk").filter(embedding__isnull=False)[:1]
    assert [row[0] for row in values_rows(qs, "pk")] == [docs[2].pk]


def test_raw_vectors_stack_into_the_same_float32_matrix(docs):
    qs = Document.objects.filter(embedding__isnull=False).order_by("pk")
    arrays = [row[1] for row in values_rows(qs, "pk", "embedding")]
    raw = [row[1] for row in values_rows(qs, "pk", "embedding", raw_vectors=True)]
    assert all(type(v) is bytes for v in raw)
    matrix = stack_vectors(raw)
    assert matrix.dtype == np.float32 and matrix.shape == (2, 3) and matrix.flags.writeable
    assert matrix.tobytes() == np.stack(arrays).tobytes()


def test_stack_vectors_takes_arrays_lists_and_nothing():
    assert stack_vectors([np.array([1, 2], dtype=np.float32), [3.0, 4.0]]).tolist() == [
        [1, 2],
        [3, 4],
    ]
    assert stack_vectors([]).shape == (0, 0)
