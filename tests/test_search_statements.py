"""Plain in-place searches reuse their compiled statement; any other search compiles as usual,
and both give the same results."""

from __future__ import annotations

import copy
import pickle
import threading

import numpy as np
import pytest
from django.db import connection, connections
from django.db.models.sql.compiler import SQLCompiler

from tests.testapp.models import Document, FeaturedArticle, Product
from vectra_django import clients
from vectra_django.db.search import statement_cache as statements

pytestmark = pytest.mark.django_db

VECTORS = {
    "east": [1, 0, 0],
    "north-east": [1, 1, 0],
    "north": [0, 1, 0],
    "up": [0, 0, 1],
    "west": [-1, 0.1, 0],
    "south-up": [0, -1, 0.5],
}


@pytest.fixture(autouse=True)
def fresh(settings):
    settings.VECTRA_SYNC = "immediate"
    clients.reset()
    for wrapper in connections.all(initialized_only=True):
        wrapper.__dict__.pop("_vectra_statements", None)
    yield
    clients.reset()


@pytest.fixture
def docs():
    return {
        title: Document.objects.create(
            title=title, embedding=vec, status="published" if i % 2 else "draft", year=2000 + i
        )
        for i, (title, vec) in enumerate(VECTORS.items())
    }


@pytest.fixture
def compiles(monkeypatch):
    """How many search queries Django compiled."""
    count = [0]
    original = SQLCompiler.as_sql

    def as_sql(self, *args, **kwargs):
        if "vector_distance" in self.query.annotations:
            count[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", as_sql)
    return count


def distances(query, titles):
    q = np.asarray(query, dtype=np.float64)
    return [
        round(1 - q @ v / (np.linalg.norm(q) * np.linalg.norm(v)), 6)
        for v in (np.asarray(VECTORS[t], dtype=np.float64) for t in titles)
    ]


def expected_titles(query, limit, titles=VECTORS):
    """Exact cosine ranking, computed apart from the database."""
    q = np.asarray(query, dtype=np.float64)

    def distance(title):
        v = np.asarray(VECTORS[title], dtype=np.float64)
        return 1 - q @ v / (np.linalg.norm(q) * np.linalg.norm(v))

    return sorted(titles, key=distance)[:limit]


QUERIES = [[1, 0.2, 0], [0, 1, 0.1], [0.1, -1, 0.4], [-1, 0, 0.2], [0.3, 0.2, 0.9]]


def test_a_repeated_plain_search_is_compiled_once(docs, compiles):
    for query in QUERIES:
        results = list(Document.objects.vector_search(query, limit=3))
        assert [d.title for d in results] == expected_titles(query, 3)
    assert compiles[0] == 1


def test_id_searches_reuse_their_statement_too(docs, compiles):
    for query in QUERIES:
        result = Document.objects.vector_search(query, limit=3, load_records=False)
        instances = list(Document.objects.vector_search(query, limit=3))
        assert [m.id for m in result] == [f"{Document._meta.db_table}_{d.pk}" for d in instances]
        assert [m.score for m in result] == [d.vector_score for d in instances]
        assert [m.distance for m in result] == [d.vector_distance for d in instances]
    assert compiles[0] == 2  # one statement for ids, one for instances


@pytest.mark.parametrize(
    "base",
    [
        lambda: Document.objects.all(),
        lambda: Document.objects.all().all(),
        lambda: Document.objects.using("default"),
    ],
    ids=["all", "all-all", "using"],
)
def test_chained_but_unchanged_querysets_are_plain(docs, compiles, base):
    for query in QUERIES[:3]:
        assert [d.title for d in base().vector_search(query, limit=3)] == expected_titles(query, 3)
    assert compiles[0] == 1


def test_each_shape_has_its_own_statement(docs, compiles):
    for limit in (1, 2, 3, 2, 1):
        assert len(Document.objects.vector_search([1, 0, 0], limit=limit)) == limit
    list(Document.objects.vector_search([1, 0, 0], limit=2, include_values=True))
    assert compiles[0] == 4  # limits 1, 2, 3, then limit 2 with the vectors


def test_cached_and_built_searches_give_identical_results(docs):
    for query in QUERIES:
        cached = list(Document.objects.vector_search(query, limit=4))
        built = list(Document.objects.vector_search(query, limit=4).all())
        assert [d.pk for d in cached] == [d.pk for d in built]
        for a, b in zip(cached, built, strict=True):
            assert type(a.vector_score) is type(b.vector_score) is float
            assert a.vector_score == b.vector_score
            assert a.vector_distance == b.vector_distance
            assert a.get_deferred_fields() == b.get_deferred_fields() == {"embedding"}
            assert (a.title, a.status, a.year) == (b.title, b.status, b.year)
            assert a._state.db == b._state.db == "default"
            assert a._state.adding is False


def test_cached_results_load_vectors_only_when_asked(docs):
    plain = Document.objects.vector_search([0, 0, 1], limit=1)
    [doc] = plain
    assert doc.title == "up" and doc.get_deferred_fields() == {"embedding"}
    [doc] = Document.objects.vector_search([0, 0, 1], limit=1, include_values=True)
    assert doc.get_deferred_fields() == set()
    assert list(doc.embedding) == [0.0, 0.0, 1.0]


def test_a_chained_search_is_built_and_filtered(docs, compiles):
    query = [1, 0.2, 0.1]  # no two rows at the same distance: one right order
    list(Document.objects.vector_search(query, limit=4))  # the statement is cached
    qs = Document.objects.vector_search(query, limit=4)
    narrowed = list(qs.defer("status"))
    assert [d.title for d in narrowed] == expected_titles(query, 4)
    assert narrowed[0].get_deferred_fields() == {"embedding", "status"}
    sql = str(qs.query)
    assert "ORDER BY" in sql and "LIMIT 4" in sql and "<=>" in sql
    assert qs.count() == 4 and qs.exists()
    assert qs[0].title == "east"
    assert [t for t, _ in qs.values_list("title", "vector_score")] == expected_titles(query, 4)


def test_a_search_survives_pickling_and_deep_copies(docs):
    qs = Document.objects.vector_search([0, 1, 0], limit=2)
    assert [d.title for d in copy.deepcopy(qs)] == ["north", "north-east"]
    restored = pickle.loads(pickle.dumps(Document.objects.vector_search([0, 1, 0], limit=2)))
    assert [d.title for d in restored] == ["north", "north-east"]
    assert "LIMIT 2" in str(restored.query)


@pytest.mark.parametrize(
    "search",
    [
        lambda v: Document.objects.filter(status="published").vector_search(v, limit=3),
        lambda v: Document.objects.only("title", "status").vector_search(v, limit=3),
    ],
    ids=["filtered-queryset", "only"],
)
def test_searches_on_narrowed_querysets_compile_every_time(docs, compiles, search):
    for query in QUERIES[:3]:
        results = list(search(query))
        assert results and all(r.title in VECTORS for r in results)
        scores = [r.vector_score for r in results]
        assert scores == sorted(scores, reverse=True)
    assert compiles[0] == 3


def test_repeated_filters_and_thresholds_reuse_their_statement(docs, compiles):
    published = [t for t in VECTORS if docs[t].status == "published"]
    for query in QUERIES:
        found = Document.objects.vector_search(query, limit=2, filter={"status": "published"})
        assert [d.title for d in found] == expected_titles(query, 2, published)
    assert compiles[0] == 1
    drafts = [t for t in VECTORS if docs[t].status == "draft"]
    found = Document.objects.vector_search(QUERIES[0], limit=2, filter={"status": "draft"})
    assert [d.title for d in found] == expected_titles(QUERIES[0], 2, drafts)
    assert compiles[0] == 2
    for threshold in (0.5, 0.5, 0.9):
        found = Document.objects.vector_search([1, 0, 0], limit=5, score_threshold=threshold)
        assert all(d.vector_score >= threshold for d in found) and found
    assert compiles[0] == 4


def test_filter_values_of_other_types_get_their_own_statement(docs):
    Document.objects.filter(title="up").update(pinned=True, year=1)
    by_bool = Document.objects.vector_search([0, 0, 1], limit=3, filter={"pinned": True})
    by_int = Document.objects.vector_search([0, 0, 1], limit=3, filter={"pinned": 1})
    assert [d.title for d in by_bool] == ["up"]
    assert list(by_int) == []  # 1 is not True in the filter language
    by_year = Document.objects.vector_search([0, 0, 1], limit=3, filter={"year": 1})
    by_true_year = Document.objects.vector_search([0, 0, 1], limit=3, filter={"year": True})
    assert [d.title for d in by_year] == ["up"] and list(by_true_year) == []


def test_similar_reuses_its_statement_and_leaves_out_each_row(docs, compiles):
    for title, doc in docs.items():
        expected = expected_titles(VECTORS[title], 4, [t for t in VECTORS if t != title])
        found = [d.title for d in doc.similar(limit=4)]
        # Rows at equal distances may come in either order: compare the distances.
        assert distances(VECTORS[title], found) == distances(VECTORS[title], expected), title
        assert title not in [d.title for d in doc.similar(limit=4, include_values=True)]
    assert compiles[0] == 2  # one statement with the vectors deferred, one with them
    assert [d.title for d in docs["west"].similar(limit=3)] == ["north", "up", "south-up"]
    assert compiles[0] == 3  # another limit, another shape


@pytest.mark.parametrize("model", ["RequiredVectorDocument", "KeyedDocument"])
def test_similar_reuses_its_statement_with_integer_and_uuid_keys(compiles, model):
    from tests.testapp import models

    model = getattr(models, model)
    rows = [model.objects.create(title=str(i), embedding=[1, i, 0]) for i in range(5)]
    for row in rows:
        found = [d.title for d in row.similar(limit=3)]
        i = int(row.title)
        nearest = sorted((j for j in range(5) if j != i), key=lambda j: (abs(j - i), j))
        assert row.title not in found and len(found) == 3
        assert found[0] in {str(j) for j in nearest[:2]}
    assert compiles[0] == 1


def test_two_vector_fields_keep_apart(compiles):
    Product.objects.create(name="a", image=[1, 0])
    Product.objects.create(name="b", image=[0, 1])
    for _ in range(2):
        assert [p.name for p in Product.objects.vector_search([0.1, 1], limit=2)] == ["b", "a"]
    assert compiles[0] == 1


def test_multi_table_children_are_built_from_both_tables(compiles):
    FeaturedArticle.objects.create(title="alpha", body="first", rank=1)
    FeaturedArticle.objects.create(title="beta", body="second", rank=2)
    query = FeaturedArticle.objects.get(rank=2).embedding
    for _ in range(2):
        results = list(FeaturedArticle.objects.vector_search(query, limit=2))
        assert [(a.title, a.rank) for a in results] == [("beta", 2), ("alpha", 1)]
        assert results[0].vector_score == pytest.approx(1.0)
    assert compiles[0] == 1


def test_the_oldest_statement_makes_way(docs, compiles, monkeypatch):
    monkeypatch.setattr(statements, "MAX_STATEMENTS", 2)
    for limit in (1, 2, 3):  # limit 1 is evicted by limit 3
        list(Document.objects.vector_search([1, 0, 0], limit=limit))
    list(Document.objects.vector_search([1, 0, 0], limit=3))
    assert compiles[0] == 3
    list(Document.objects.vector_search([1, 0, 0], limit=1))
    assert compiles[0] == 4


def test_a_cached_search_is_one_logged_query(docs, iterative_session):
    from django.test.utils import CaptureQueriesContext

    list(Document.objects.vector_search([1, 0, 0], limit=2))
    with CaptureQueriesContext(connection) as ctx:
        list(Document.objects.vector_search([0, 1, 0], limit=2))
    [query] = ctx.captured_queries
    assert "<=>" in query["sql"] and "LIMIT 2" in query["sql"]


@pytest.mark.django_db(transaction=True)
def test_a_search_built_in_one_thread_runs_in_another():
    for title in ("east", "north", "up"):
        Document.objects.create(title=title, embedding=VECTORS[title])
    list(Document.objects.vector_search([1, 0, 0], limit=2))  # cached on this thread only
    qs = Document.objects.vector_search([0, 1, 0.1], limit=2)
    found = []

    def evaluate():
        from django.db import connections

        try:
            found.extend(d.title for d in qs)
        finally:
            connections.close_all()

    worker = threading.Thread(target=evaluate)
    worker.start()
    worker.join()
    assert found == ["north", "up"]


def test_without_a_reusable_statement_searches_compile_as_usual(docs, compiles, monkeypatch):
    monkeypatch.setattr(statements.Statement, "compile", classmethod(lambda cls, *a: None))
    for query in QUERIES[:2]:
        assert [d.title for d in Document.objects.vector_search(query, limit=2)] == (
            expected_titles(query, 2)
        )
        result = Document.objects.vector_search(query, limit=2, load_records=False)
        assert len(result) == 2
    assert compiles[0] == 4


@pytest.mark.django_db(transaction=True)
def test_a_finished_threads_statements_go_with_its_connection():
    import gc
    import weakref

    seen = []

    def search():
        list(Document.objects.vector_search([1, 0, 0], limit=1))
        wrapper = connections["default"]
        seen.append((weakref.ref(wrapper), len(wrapper._vectra_statements)))
        connections.close_all()

    worker = threading.Thread(target=search)
    worker.start()
    worker.join()
    gc.collect()
    [(wrapper, kept)] = seen
    assert kept == 1 and wrapper() is None
