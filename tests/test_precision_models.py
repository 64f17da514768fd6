"""Half-precision and binary-quantized vector fields: migrations, values, search, checks."""

from __future__ import annotations

import numpy as np
import pytest
from django.apps import apps
from django.db import connection, models

from tests.testapp.models import LargeDocument, QuantizedDocument
from vectra_django import VectorField, clients, errors
from vectra_django.checks import column_errors, extension_errors
from vectra_django.indexes import HnswIndex, binary_quantized_index, opclass


@pytest.fixture(autouse=True)
def fresh_clients():
    clients.reset()
    yield
    clients.reset()


def unit_rows(rows: int, dimension: int, seed: int = 0) -> np.ndarray:
    matrix = np.random.default_rng(seed).standard_normal((rows, dimension)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def plan(queryset) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    return queryset.explain()


def column_type(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attname = 'embedding'",
            [table],
        )
        return cursor.fetchone()[0]


# -- halfvec -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_3072_dimension_field_migrates_to_an_indexed_halfvec_column() -> None:
    assert column_type("testapp_largedocument") == "halfvec(3072)"
    matrix = unit_rows(30, 3072)
    LargeDocument.objects.bulk_create(
        LargeDocument(title=f"l{i}", embedding=row) for i, row in enumerate(matrix)
    )
    (hit,) = LargeDocument.objects.vector_search(matrix[4], limit=1)
    assert hit.title == "l4" and hit.vector_score == pytest.approx(1.0, abs=1e-3)
    assert "large_embedding_hnsw" in plan(LargeDocument.objects.vector_search(matrix[4], limit=3))


@pytest.mark.django_db
def test_half_precision_values_read_back_as_assigned() -> None:
    values = unit_rows(1, 3072, seed=2)[0]
    doc = LargeDocument(title="x", embedding=values)
    assigned = list(doc.embedding)
    assert assigned == values.astype(np.float16).astype(np.float32).tolist()
    doc.save()
    doc.refresh_from_db()
    assert doc.embedding == assigned


def test_a_value_beyond_half_precision_is_refused() -> None:
    values = [0.0] * 3072
    values[5] = 70000.0
    with pytest.raises(errors.ValidationError, match="half precision's range"):
        LargeDocument(embedding=values)


def test_precision_reaches_migrations_and_quantization_does_not() -> None:
    _, path, _, kwargs = LargeDocument._meta.get_field("embedding").deconstruct()
    assert path == "vectra_django.VectorField" and kwargs["precision"] == "half"
    _, _, _, kwargs = QuantizedDocument._meta.get_field("embedding").deconstruct()
    assert "precision" not in kwargs and "quantization" not in kwargs


@pytest.mark.django_db
def test_a_vector_column_where_halfvec_is_declared_is_e004() -> None:
    vf = LargeDocument._meta.get_field("embedding")
    assert column_errors("default", vf) == []
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX large_embedding_hnsw")
        cursor.execute("ALTER TABLE testapp_largedocument ALTER COLUMN embedding TYPE vector(3072)")
    (error,) = column_errors("default", vf)
    assert error.id == "vectra_django.E004" and "declares halfvec(3072)" in error.msg


@pytest.mark.django_db
def test_the_servers_pgvector_serves_halfvec_and_quantization() -> None:
    assert extension_errors("default", LargeDocument._meta.get_field("embedding")) == []
    assert extension_errors("default", QuantizedDocument._meta.get_field("embedding")) == []


# -- binary quantization ------------------------------------------------------------------------


@pytest.fixture
def quantized(db) -> np.ndarray:
    matrix = unit_rows(600, 64, seed=3)
    QuantizedDocument.objects.bulk_create(
        QuantizedDocument(title=f"q{i}", category="odd" if i % 2 else "even", embedding=row)
        for i, row in enumerate(matrix)
    )
    return matrix


def exact_scores(matrix: np.ndarray, query: np.ndarray) -> dict[str, float]:
    scores = matrix @ (query / np.linalg.norm(query))
    return {f"q{i}": float(s) for i, s in enumerate(scores)}


def test_quantized_search_reranks_to_exact_scores(quantized: np.ndarray) -> None:
    query = quantized[10] + 0.1 * unit_rows(1, 64, seed=9)[0]
    results = list(QuantizedDocument.objects.vector_search(query, limit=5))
    assert results[0].title == "q10"
    exact = exact_scores(quantized, query)
    for doc in results:
        assert doc.vector_score == pytest.approx(exact[doc.title], abs=1e-5)
    scores = [d.vector_score for d in results]
    assert scores == sorted(scores, reverse=True)
    assert "quantized_embedding_bq" in plan(QuantizedDocument.objects.vector_search(query, limit=5))


def test_quantized_search_takes_filters_similar_and_ids(quantized: np.ndarray) -> None:
    found = QuantizedDocument.objects.vector_search(
        quantized[7], limit=4, filter={"category": "odd"}
    )
    assert found[0].title == "q7" and all(d.category == "odd" for d in found)
    chained = QuantizedDocument.objects.filter(category="even").vector_search(quantized[8], limit=3)
    assert chained[0].title == "q8" and len(chained) == 3
    doc = QuantizedDocument.objects.get(title="q9")
    assert doc.title not in [d.title for d in doc.similar(limit=3)]
    ids = QuantizedDocument.objects.vector_search(quantized[2], limit=2, load_records=False)
    assert ids[0].id == f"testapp_quantizeddocument_{QuantizedDocument.objects.get(title='q2').pk}"


def test_more_candidates_reach_the_exact_neighbours(quantized: np.ndarray) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    query = unit_rows(1, 64, seed=21)[0]
    exact = sorted(exact_scores(quantized, query).items(), key=lambda kv: -kv[1])[:10]
    with CaptureQueriesContext(connection) as ctx:
        found = list(QuantizedDocument.objects.vector_search(query, limit=10, candidates=600))
    assert [d.title for d in found] == [title for title, _ in exact]  # every row re-ranked
    assert any("LIMIT 600" in q["sql"] for q in ctx.captured_queries)
    default = list(QuantizedDocument.objects.vector_search(query, limit=10))
    assert len(default) == 10  # 100 candidates by default: same shape, other statement


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"candidates": 5}, "from 10 to"),
        ({"candidates": "many"}, "integer"),
        ({"candidates": 10_001}, "to 10000"),
    ],
)
def test_bad_candidates_are_refused(quantized: np.ndarray, kwargs, message) -> None:
    with pytest.raises(errors.ValidationError, match=message):
        QuantizedDocument.objects.vector_search(quantized[0], limit=10, **kwargs)


@pytest.mark.django_db
def test_candidates_apply_to_binary_quantized_fields_only() -> None:
    with pytest.raises(errors.ValidationError, match="quantization='binary'"):
        LargeDocument.objects.vector_search([0.1] * 3072, limit=3, candidates=50)


# -- checks ------------------------------------------------------------------------------------


def check_ids(indexes=(), **options) -> list[str]:
    class Model(models.Model):
        embedding = VectorField(**options)

        class Meta:
            app_label = "testapp"
            managed = False

    Model._meta.indexes = list(indexes)
    try:
        return [e.id for e in Model._meta.get_field("embedding").check()]
    finally:
        apps.all_models["testapp"].pop("model", None)
        apps.clear_cache()


def hnsw(*opclasses: str) -> HnswIndex:
    return HnswIndex(name="check_hnsw", fields=["embedding"], opclasses=list(opclasses))


def test_unknown_precision_is_e017() -> None:
    assert check_ids(dimensions=3, precision="double") == ["vectra_django.E017"]


def test_unknown_quantization_or_a_metric_it_cannot_serve_is_e018() -> None:
    assert check_ids(dimensions=3, quantization="scalar") == ["vectra_django.E018"]
    assert check_ids(dimensions=3, quantization="binary", metric="euclidean") == [
        "vectra_django.E018"
    ]


def test_an_index_past_pgvectors_dimension_limit_is_e019() -> None:
    assert check_ids([hnsw("vector_cosine_ops")], dimensions=3072) == ["vectra_django.E019"]
    assert check_ids([hnsw("halfvec_cosine_ops")], dimensions=3072, precision="half") == []
    assert check_ids([hnsw("halfvec_cosine_ops")], dimensions=4096, precision="half") == [
        "vectra_django.E019"
    ]
    assert check_ids(dimensions=3072) == []  # no index, no limit
    bq = binary_quantized_index("embedding", 8000, name="check_bq")
    assert check_ids([bq], dimensions=8000, quantization="binary") == []


def test_an_operator_class_of_the_other_precision_is_e020() -> None:
    assert check_ids([hnsw("vector_cosine_ops")], dimensions=8, precision="half") == [
        "vectra_django.E020"
    ]
    assert check_ids([hnsw(opclass("cosine", "half"))], dimensions=8, precision="half") == []


# -- a synced halfvec field -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_synced_halfvec_field_reindexes_and_checks_clean() -> None:
    from io import StringIO

    from django.core.management import call_command

    from tests.testapp.models import HalfRemoteDocument
    from vectra_django.db.reindex import stack_vectors, values_rows

    values = [[0.1, 0.2, 0.3, 0.4], [1 / 3, -2 / 3, 0.5, 1e-3]]
    docs = [
        HalfRemoteDocument.objects.create(title=str(i), embedding=v) for i, v in enumerate(values)
    ]
    rounded = np.asarray(values, dtype=np.float16).astype(np.float32)
    rows = values_rows(
        HalfRemoteDocument.objects.order_by("pk"), "pk", "embedding", raw_vectors=True
    )
    assert np.array_equal(stack_vectors([row[1] for row in rows]), rounded)
    call_command("vectra_reindex", "testapp.HalfRemoteDocument", stdout=StringIO())
    stored = clients["memory"].fetch("half-docs", [d.vector_id for d in docs])
    assert [stored[d.vector_id].values for d in docs] == rounded.tolist()
    call_command("vectra_reindex", "testapp.HalfRemoteDocument", check=True, stdout=StringIO())
