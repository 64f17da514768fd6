"""vector_search and similar(): in place on pgvector, and through a remote provider."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.testapp.models import Document, Product, RemoteDocument, UUIDDocument
from vectra_django import QueryResult, clients, on_operation
from vectra_django.db.search.expressions import distance, score
from vectra_django.db.search.filters import compile_q
from vectra_django.db.search.parameters import QueryVector
from vectra_django.errors import ValidationError

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_clients(settings):
    settings.VECTRA_SYNC = "immediate"
    clients.reset()
    yield
    clients.reset()


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture
def docs():
    rows = [
        ("east", [1, 0, 0], "news", "published", 2020, True),
        ("north-east", [1, 1, 0], "news", "draft", 2021, False),
        ("north", [0, 1, 0], "blog", "published", 2022, False),
        ("up", [0, 0, 1], "blog", "published", None, False),
        ("west", [-1, 0.1, 0], "", "published", 2019, False),
    ]
    return {
        title: Document.objects.create(
            title=title, embedding=vec, category=cat, status=status, year=year, pinned=pinned
        )
        for title, vec, cat, status, year, pinned in rows
    }


def titles(results):
    return [d.title for d in results]


# -- in place (pgvector on the model's own table) ---------------------------------------------


def test_inline_search_orders_best_first(docs):
    results = Document.objects.vector_search([1, 0.2, 0], limit=3)
    assert titles(results) == ["east", "north-east", "north"]


def test_inline_search_is_one_select(docs):
    with CaptureQueriesContext(connection) as ctx:
        list(Document.objects.filter(status="published").vector_search([1, 0, 0], limit=2))
    selects = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT")]
    searches = [sql for sql in selects if "set_config" not in sql]
    assert len(searches) == 1
    assert "<=>" in searches[0] and '"status"' in searches[0] and "LIMIT 2" in searches[0]


def search_statements(ctx):
    return [q["sql"] for q in ctx.captured_queries]


@pytest.mark.parametrize("nullable", [True, False])
def test_the_null_check_is_only_there_for_nullable_vector_columns(nullable):
    from tests.testapp.models import RequiredVectorDocument

    model = Document if nullable else RequiredVectorDocument
    model.objects.create(title="a", embedding=[1, 0, 0])
    model.objects.create(title="b", embedding=[0, 1, 0])
    qs = model.objects.vector_search([1, 0.1, 0], limit=5)
    assert ("IS NOT NULL" in str(qs.query)) is nullable
    assert [d.title for d in qs] == ["a", "b"]


def test_unfiltered_search_within_the_sessions_settings_is_one_statement(docs, iterative_session):
    list(Document.objects.vector_search([1, 0, 0], limit=3))  # learns the session's ef_search
    with CaptureQueriesContext(connection) as ctx:
        results = list(Document.objects.vector_search([1, 0, 0], limit=3))
    assert titles(results)[:2] == ["east", "north-east"]
    assert titles(results)[2] in ("north", "up")  # a tie: both at 90 degrees
    [statement] = search_statements(ctx)
    assert "<=>" in statement and "set_config" not in statement


@pytest.mark.parametrize(
    ("filtered", "limit", "expected"),
    [
        (True, 10, ("force_custom_plan", "200", "relaxed_order")),
        (True, 300, ("force_custom_plan", "300", "relaxed_order")),
        (False, 100, ("force_custom_plan", "100", "relaxed_order")),
        (False, 3, ("force_custom_plan", "40", "relaxed_order")),
    ],
)
def test_search_sets_what_the_defaults_do_not_give(docs, filtered, limit, expected):
    qs = Document.objects.filter(status="published") if filtered else Document.objects.all()
    with CaptureQueriesContext(connection) as ctx:
        list(qs.vector_search([1, 0, 0], limit=limit))
    assert any("set_config" in sql for sql in search_statements(ctx))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('plan_cache_mode'), current_setting('hnsw.ef_search'),"
            " current_setting('hnsw.iterative_scan')"
        )
        assert cursor.fetchone() == expected


def test_a_session_with_a_lower_ef_search_gets_it_raised(docs):
    from vectra_django.postgres import forget_session_settings

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.ef_search = 2")
    forget_session_settings()
    try:
        with CaptureQueriesContext(connection) as ctx:
            results = list(Document.objects.vector_search([1, 0, 0], limit=3))
    finally:
        forget_session_settings()  # the SET LOCAL ends with the test's transaction
    assert len(results) == 3
    assert any("set_config" in sql for sql in search_statements(ctx))


def test_the_query_vector_is_a_bound_parameter_of_an_unprepared_statement(docs, monkeypatch):
    import psycopg

    sent = []
    original = psycopg.Cursor.execute

    def record(self, query, params=None, **kwargs):
        sent.append((type(self), query, params, kwargs.get("prepare")))
        return original(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", record)
    factory = connection.connection.cursor_factory
    list(Document.objects.vector_search([0.25, 0.5, 1], limit=2))
    monkeypatch.undo()
    [(cursor_type, query, params, prepare)] = [s for s in sent if "<=>" in str(s[1])]
    assert not issubclass(cursor_type, psycopg.ClientCursor)
    assert "0.25" not in query
    assert QueryVector([0.25, 0.5, 1]) in params
    assert prepare is False
    assert connection.connection.cursor_factory is factory  # put back afterwards


def test_searches_still_print_and_explain_with_the_vector_as_text(docs):
    qs = Document.objects.vector_search([0.25, 0.5, 1], limit=2)
    assert "[0.25,0.5,1]" in str(qs.query)
    assert "Limit" in qs.explain()  # a client-side cursor: the text dumper


def test_query_vectors_bind_exactly_in_binary():
    import psycopg
    from psycopg.adapt import PyFormat

    from vectra_django.db.search import parameters as binding

    binding.prepare(connection)
    raw = connection.connection
    assert raw.adapters.get_dumper(QueryVector, PyFormat.BINARY) is not None
    # What a search's %s placeholder uses: the binary form, not the text one.
    assert raw.adapters.get_dumper(QueryVector, PyFormat.AUTO).format == psycopg.pq.Format.BINARY
    values = np.random.default_rng(3).standard_normal(5).astype(np.float32)
    with psycopg.Cursor(raw) as cursor:
        cursor.execute("SELECT (%b)::vector::text", [QueryVector(values)])
        (text,) = cursor.fetchone()
    assert np.array_equal(np.fromstring(text[1:-1], sep=",", dtype=np.float32), values)


def test_inline_cosine_scores_and_distances(docs):
    query = [1, 0.5, 0]
    for doc in Document.objects.vector_search(query, limit=5):
        similarity = cosine(doc.embedding, query)
        assert doc.vector_score == pytest.approx(similarity, abs=1e-6)
        assert doc.vector_distance == pytest.approx(1 - similarity, abs=1e-6)


def test_inline_dotproduct_scores_are_inner_products():
    Product.objects.create(name="a", image=[1, 2])
    Product.objects.create(name="b", image=[3, -1])
    results = list(Product.objects.vector_search([2, 1], limit=2, field="image"))
    assert [p.name for p in results] == ["b", "a"]
    assert [p.vector_score for p in results] == pytest.approx([5.0, 4.0])
    assert [p.vector_distance for p in results] == pytest.approx([-5.0, -4.0])


def test_euclidean_score_expression_is_one_over_one_plus_distance(docs):
    row = (
        Document.objects.filter(title="east")
        .annotate(d=distance("euclidean", "embedding", [0, 0, 0]))
        .annotate(s=score("euclidean", "d"))
        .get()
    )
    assert row.d == pytest.approx(1.0)
    assert row.s == pytest.approx(0.5)


def test_inline_search_chains_after_filter_and_exclude(docs):
    qs = Document.objects.filter(status="published").exclude(category="blog")
    assert titles(qs.vector_search([1, 1, 0], limit=5)) == ["east", "west"]


def test_inline_score_threshold_is_a_score_bound(docs):
    results = Document.objects.vector_search([1, 0, 0], limit=10, score_threshold=0.5)
    assert titles(results) == ["east", "north-east"]
    assert all(d.vector_score >= 0.5 for d in results)


def test_inline_filter_on_model_fields(docs):
    results = Document.objects.vector_search(
        [1, 0, 0], limit=10, filter={"category": {"$in": ["news", "blog"]}, "year": {"$gte": 2021}}
    )
    assert titles(results) == ["north-east", "north"]


def test_inline_filter_or_and_exists(docs):
    results = Document.objects.vector_search(
        [0, 0, 1], limit=10, filter={"$or": [{"year": {"$exists": False}}, {"pinned": True}]}
    )
    assert titles(results) == ["up", "east"]


def test_inline_filter_is_type_aware(docs):
    assert titles(Document.objects.vector_search([1, 0, 0], filter={"pinned": 1})) == []
    assert titles(Document.objects.vector_search([1, 0, 0], filter={"year": "2020"})) == []
    assert titles(Document.objects.vector_search([1, 0, 0], filter={"year": 2020.0})) == ["east"]


def test_inline_ne_matches_null_like_a_missing_key(docs):
    results = Document.objects.vector_search([0, 0, 1], limit=10, filter={"year": {"$ne": 2020}})
    assert "up" in titles(results) and "east" not in titles(results)


def test_fractional_bounds_on_integer_columns():
    years = [2019, 2020, 2021, -2, -1]
    for y in years:
        Document.objects.create(title=str(y), year=y, embedding=[1, 0, 0])

    def matching(spec):
        return sorted(
            Document.objects.filter(compile_q(Document, spec)).values_list("year", flat=True)
        )

    from vectra_django.client.filters import parse

    assert matching(parse({"year": {"$gt": 2019.5}})) == [2020, 2021]
    assert matching(parse({"year": {"$lte": 2020.5}})) == [-2, -1, 2019, 2020]
    assert matching(parse({"year": {"$gt": -1.5}})) == [-1, 2019, 2020, 2021]
    assert matching(parse({"year": {"$lt": -1.5}})) == [-2]


def test_inline_filter_unknown_key_is_validation_error(docs):
    with pytest.raises(ValidationError, match="'colour'"):
        Document.objects.vector_search([1, 0, 0], filter={"colour": "red"})


def test_inline_range_on_text_column_is_validation_error(docs):
    with pytest.raises(ValidationError, match="'category'"):
        Document.objects.vector_search([1, 0, 0], filter={"category": {"$gt": 1}})


def test_search_rejects_wrong_dimension(docs):
    with pytest.raises(ValidationError, match="dimension"):
        Document.objects.vector_search([1, 0])


def test_inline_search_skips_rows_without_vectors(docs):
    Document.objects.create(title="empty", embedding=None)
    assert "empty" not in titles(Document.objects.vector_search([1, 0, 0], limit=10))


def test_filtered_search_returns_limit_rows_with_iterative_scan():
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(400, 3))
    Document.objects.bulk_create(
        Document(title=str(i), status="published" if i % 10 == 0 else "draft", embedding=v)
        for i, v in enumerate(vectors)
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # make the planner use the HNSW index
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_indexscan = on")
    # 40 of 400 pass the filter; about 20 lie within ef_search (200) of the first pass, so 25
    # need the iterative scan (a few fewer than 40: the random HNSW graph of 3-d points may
    # leave a node unreachable).
    results = list(Document.objects.filter(status="published").vector_search(vectors[3], limit=25))
    assert len(results) == 25
    distances = [d.vector_distance for d in results]
    assert distances == sorted(distances)


def test_inline_search_uses_the_hnsw_index(docs):
    qs = Document.objects.vector_search([1, 0, 0], limit=3)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    assert "document_embedding_hnsw" in qs.explain()


def test_inline_load_records_false_returns_query_result(docs):
    result = Document.objects.vector_search([1, 0, 0], limit=2, load_records=False)
    assert isinstance(result, QueryResult)
    assert result.ids == [
        f"testapp_document_{docs['east'].pk}",
        f"testapp_document_{docs['north-east'].pk}",
    ]
    assert result[0].score == pytest.approx(1.0)
    assert result[1].distance == pytest.approx(1 - math.sqrt(0.5), abs=1e-6)


def test_inline_namespace_is_rejected(docs):
    with pytest.raises(ValidationError, match="namespace"):
        Document.objects.vector_search([1, 0, 0], namespace="x")


def test_unknown_field_is_rejected(docs):
    with pytest.raises(ValidationError, match="'nope'"):
        Document.objects.vector_search([1, 0, 0], field="nope")


def test_similar_excludes_self_inline(docs):
    east = docs["east"]
    results = east.similar(limit=2)
    assert titles(results) == ["north-east", "north"]


def test_similar_filter_inline(docs):
    results = docs["east"].similar(limit=5, filter={"category": "blog"})
    assert titles(results) == ["north", "up"]


def test_similar_without_vector_is_validation_error():
    doc = Document.objects.create(title="empty")
    with pytest.raises(ValidationError, match="no embedding"):
        doc.similar()


def test_inline_search_emits_instrumentation_event(docs, settings):
    settings.VECTRA_INSTRUMENTATION = True
    events = []
    on_operation(events.append)
    list(Document.objects.vector_search([1, 0, 0], limit=2))
    search = [e for e in events if e.operation == "search"]
    assert len(search) == 1
    assert search[0].provider == "pgvector"
    assert search[0].metadata["top_k"] == 2 and search[0].metadata["result_count"] == 2


# -- synced (memory, Pinecone and Qdrant behind the test models' alias) --------------------------


@pytest.fixture
def remote_docs(remote_store):
    rows = [
        ("east", [1, 0, 0], "news", "published", 2020),
        ("north-east", [1, 1, 0], "news", "draft", 2021),
        ("north", [0, 1, 0], "blog", "published", 2022),
        ("up", [0, 0, 1], "blog", "published", None),
    ]
    return {
        t: RemoteDocument.objects.create(title=t, embedding=v, category=c, status=s, year=y)
        for t, v, c, s, y in rows
    }


def test_remote_search_keeps_rank_order_and_scores(remote_docs):
    results = list(RemoteDocument.objects.vector_search([1, 0.2, 0], limit=3))
    assert titles(results) == ["east", "north-east", "north"]
    assert results[0].vector_score == pytest.approx(cosine([1, 0, 0], [1, 0.2, 0]), abs=1e-6)
    assert results[0].vector_distance == pytest.approx(1 - results[0].vector_score, abs=1e-6)


def test_remote_search_loads_rows_in_one_query(remote_docs):
    qs = RemoteDocument.objects.vector_search([1, 0, 0], limit=3)
    with CaptureQueriesContext(connection) as ctx:
        list(qs)
    assert len(ctx.captured_queries) == 1


def test_remote_search_drops_ghost_ids(remote_docs):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM testapp_remotedocument WHERE id = %s", [remote_docs["east"].pk])
    assert titles(RemoteDocument.objects.vector_search([1, 0, 0], limit=2)) == ["north-east"]


def test_remote_filter_on_metadata(remote_docs):
    results = RemoteDocument.objects.vector_search([1, 0, 0], filter={"category": "blog"})
    assert titles(results) == ["north", "up"]


def test_remote_filter_on_undeclared_field_is_validation_error(remote_docs):
    with pytest.raises(ValidationError, match="'title'"):
        RemoteDocument.objects.vector_search([1, 0, 0], filter={"title": "east"})


def test_remote_search_over_fetches_when_the_queryset_is_filtered(remote_store):
    for i in range(12):
        RemoteDocument.objects.create(title=f"d{i}", status="draft", embedding=[1, i / 100, 0])
    for i in range(3):
        RemoteDocument.objects.create(title=f"p{i}", status="published", embedding=[0, 1, i / 10])
    results = RemoteDocument.objects.filter(status="published").vector_search([1, 0, 0], limit=3)
    assert sorted(titles(results)) == ["p0", "p1", "p2"]


def test_remote_score_threshold(remote_docs):
    results = RemoteDocument.objects.vector_search([1, 0, 0], score_threshold=0.5)
    assert titles(results) == ["east", "north-east"]


def test_remote_load_records_false(remote_docs):
    result = RemoteDocument.objects.vector_search([1, 0, 0], limit=1, load_records=False)
    assert result.ids == [f"testapp_remotedocument_{remote_docs['east'].pk}"]


def test_remote_search_before_any_write_is_empty(remote_store):
    assert list(RemoteDocument.objects.vector_search([1, 0, 0])) == []


def test_similar_excludes_self_remote(remote_docs):
    assert titles(remote_docs["east"].similar(limit=2)) == ["north-east", "north"]


def test_uuid_primary_keys_round_trip(remote_store):
    a = UUIDDocument.objects.create(title="a", embedding=[0, 0.5])  # Pinecone stores no zeros
    UUIDDocument.objects.create(title="b", embedding=[3, 4])
    results = list(UUIDDocument.objects.vector_search([0.1, 0], limit=2))
    assert results[0].pk == a.pk and isinstance(a.pk, uuid.UUID)
    assert results[1].vector_distance == pytest.approx(math.hypot(2.9, 4), abs=1e-5)
    assert results[1].vector_score == pytest.approx(1 / (1 + math.hypot(2.9, 4)), abs=1e-5)
    assert a.similar(limit=1)[0].title == "b"


def test_two_vector_fields_search_separately(remote_store):
    a = Product.objects.create(name="a", image=[1, 0], text=[1, 0, 0, 0])
    Product.objects.create(name="b", image=[0, 1], text=[0, 0, 0, 1])
    assert Product.objects.vector_search([0, 0, 0, 1], field="text", limit=1)[0].name == "b"
    assert Product.objects.vector_search([1, 0], field="image", limit=1)[0].name == "a"
    text = Product._meta.get_field("text")
    assert text.client().stats(text.index_name)["namespaces"] == {"products": {"vector_count": 2}}
    assert a.similar(limit=1, field="text")[0].name == "b"


def test_remote_search_emits_instrumentation_event(remote_docs, remote_store, settings):
    settings.VECTRA_INSTRUMENTATION = True
    events = []
    on_operation(events.append)
    RemoteDocument.objects.vector_search([1, 0, 0], limit=2)
    search = [e for e in events if e.operation == "search"]
    assert search[0].provider == remote_store and search[0].index == "remote-docs"
    assert search[0].metadata == {"top_k": 2, "result_count": 2}


def test_thousand_documents_published_filter_with_threshold():
    from tests.testapp.factories import DocumentFactory

    DocumentFactory.create_batch(1000)
    query = [1.0, 0.0, 0.0]
    results = list(
        Document.objects.filter(status="published").vector_search(
            query, limit=10, score_threshold=0.5
        )
    )
    assert len(results) == 10
    assert all(d.status == "published" and d.vector_score >= 0.5 for d in results)
    scores = [d.vector_score for d in results]
    assert scores == sorted(scores, reverse=True)
    best = max(
        (d for d in Document.objects.filter(status="published")),
        key=lambda d: cosine(d.embedding, query),
    )
    assert results[0].pk == best.pk


# -- what results load: vector columns deferred unless include_values=True -------------------

VECTORS = {"east": [1, 0, 0], "north-east": [1, 1, 0], "north": [0, 1, 0]}


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
