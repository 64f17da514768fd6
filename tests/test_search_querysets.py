"""An in-place HNSW search keeps its settings whichever way its queryset is evaluated.

Without ``hnsw.ef_search`` raised to the search's ``limit`` an HNSW scan stops at 40 rows,
and without the iterative scan a filtered one returns only the rows among those 40 that pass
the filter. Each test makes the planner use the index (``enable_seqscan = off``), on 400
rows, so a path that loses the settings returns too few rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, Max

from tests.testapp.models import Document

LIMIT = 100
pytestmark = pytest.mark.usefixtures("fresh_clients")


@pytest.fixture
def vectors():
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(400, 3))
    Document.objects.bulk_create(
        Document(title=str(i), category="rare" if i % 40 == 0 else "common", embedding=v)
        for i, v in enumerate(vectors)
    )
    return vectors


def use_the_index(scope: str = "LOCAL") -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SET {scope} enable_seqscan = off")
        cursor.execute(f"SET {scope} enable_bitmapscan = off")


def search(vectors, **kwargs):
    return Document.objects.vector_search(vectors[0], limit=LIMIT, **kwargs)


def exact_order(vectors, query, rows=None):
    """Primary keys by exact cosine distance (the test's own numpy reference)."""
    pks = list(Document.objects.order_by("pk").values_list("pk", flat=True))
    normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    order = np.argsort(-(normed @ (query / np.linalg.norm(query))))
    ranked = [pks[i] for i in order]
    return ranked if rows is None else [pk for pk in ranked if pk in rows]


@pytest.mark.django_db
class TestInATransaction:
    """Inside ``atomic()`` (the test's own transaction): settings are ``SET LOCAL``."""

    @pytest.fixture(autouse=True)
    def index(self, vectors):
        use_the_index()

    def test_instances(self, vectors):
        assert len(list(search(vectors))) == LIMIT

    def test_values_list(self, vectors):
        pks = list(search(vectors).values_list("pk", flat=True))
        # An approximate index: nearly the exact top 100 (a lost ef_search gives 40 rows),
        # in exact order of distance.
        exact = exact_order(vectors, vectors[0])
        assert len(pks) == LIMIT and len(set(pks) & set(exact[:LIMIT])) >= 0.95 * LIMIT
        assert pks == [pk for pk in exact if pk in set(pks)]

    def test_values(self, vectors):
        rows = list(search(vectors).values("pk", "vector_score"))
        assert len(rows) == LIMIT
        assert [r["vector_score"] for r in rows] == sorted(
            (r["vector_score"] for r in rows), reverse=True
        )

    def test_count(self, vectors):
        assert search(vectors).count() == LIMIT

    def test_iterator(self, vectors):
        assert len(list(search(vectors).iterator(chunk_size=30))) == LIMIT

    def test_slicing(self, vectors):
        page = [d.pk for d in search(vectors)[60:90]]
        assert page == [d.pk for d in search(vectors)][60:90]

    def test_aggregate(self, vectors):
        result = search(vectors).aggregate(n=Count("pk"), far=Max("vector_distance"))
        assert result["n"] == LIMIT

    def test_paginator(self, vectors):
        paginator = Paginator(search(vectors), 25)
        assert paginator.count == LIMIT and paginator.num_pages == 4
        assert len(paginator.page(4).object_list) == 25

    def test_subquery(self, vectors):
        inner = search(vectors).values("pk")
        assert Document.objects.filter(pk__in=inner).count() == LIMIT

    def test_filtered_values_list_returns_exactly_k_rows(self, vectors):
        pks = list(
            Document.objects.vector_search(
                vectors[0], limit=10, filter={"category": "rare"}
            ).values_list("pk", flat=True)
        )
        rare = set(Document.objects.filter(category="rare").values_list("pk", flat=True))
        assert pks == exact_order(vectors, vectors[0], rare)[:10]

    def test_filtered_exists_finds_rows_beyond_the_first_candidates(self, vectors):
        far = -vectors[0]  # the rare rows nearest to it are not among its 40 nearest overall
        qs = Document.objects.filter(category="rare", title="0").vector_search(far, limit=1)
        assert qs.exists()

    def test_load_records_false(self, vectors):
        result = search(vectors, load_records=False)
        assert len(result) == LIMIT
        assert result.scores == sorted(result.scores, reverse=True)


@pytest.mark.django_db(transaction=True)
class TestInAutocommit:
    """Outside any transaction: each statement gets a transaction of its own."""

    @pytest.fixture(autouse=True)
    def index(self, vectors):
        use_the_index("SESSION")
        yield
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_bitmapscan")

    def test_values_list(self, vectors):
        assert len(list(search(vectors).values_list("pk", flat=True))) == LIMIT
        assert not connection.in_atomic_block

    def test_count_and_paginator(self, vectors):
        assert search(vectors).count() == LIMIT
        assert Paginator(search(vectors), 30).num_pages == 4

    def test_iterator_on_a_server_side_cursor(self, vectors):
        assert len(list(search(vectors).iterator(chunk_size=7))) == LIMIT

    def test_subquery(self, vectors):
        assert Document.objects.filter(pk__in=search(vectors).values("pk")).count() == LIMIT

    def test_the_settings_do_not_outlive_the_statement(self, vectors):
        list(search(vectors).values_list("pk"))
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('hnsw.ef_search')")
            assert cursor.fetchone()[0] == "40"

    def test_a_failing_search_leaves_the_connection_usable(self, vectors):
        from django.db import DataError
        from django.db.models.expressions import RawSQL

        broken = Document.objects.annotate(boom=RawSQL("1 / (id - id)", [])).vector_search(
            vectors[0], limit=LIMIT
        )
        with pytest.raises(DataError, match="division by zero"):
            list(broken.values_list("pk", "boom"))
        assert not connection.in_atomic_block
        assert len(list(search(vectors).values_list("pk"))) == LIMIT  # no aborted transaction
