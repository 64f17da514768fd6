"""manage.py vectra_status on real PostgreSQL: fields searched in place (their index, the plan of
a typical search, the keyword column), synced fields (store, drift, outbox backlog and parked
entries), index builds running, --json, the exit status and the field selection."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tests import remote_stores
from tests.pg_helpers import database_url
from tests.testapp.models import Document, Entry, Product, RemoteDocument
from tests.testapp.providers import HookedMemoryProvider
from vectra_django import clients
from vectra_django.db.status import advice
from vectra_django.errors import ServerError
from vectra_django.models import SyncEntry

committed = pytest.mark.django_db(transaction=True)
pytestmark = pytest.mark.usefixtures("fresh_clients")

REPORT_KEYS = {
    "field",
    "model",
    "table",
    "column",
    "database",
    "provider_alias",
    "provider",
    "mode",
    "index",
    "namespace",
    "metric",
    "dimensions",
    "precision",
    "quantization",
    "embedder",
    "rows",
    "vectors",
    "ann_indexes",
    "plan",
    "keyword",
    "store",
    "drift",
    "outbox",
    "builds",
    "notes",
    "actions",
    "needs_action",
}


def status(*args: str) -> str:
    """The command's output; fails the test when it exits non-zero."""
    out = StringIO()
    call_command("vectra_status", *args, stdout=out)
    return out.getvalue()


def failing_status(*args: str) -> tuple[str, CommandError]:
    """The output of a run that must exit non-zero, and its error."""
    out = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("vectra_status", *args, stdout=out)
    return out.getvalue(), info.value


def json_status(*args: str) -> list[dict]:
    out = StringIO()
    with contextlib.suppress(CommandError):
        call_command("vectra_status", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def documents(n: int) -> None:
    Document.objects.bulk_create(
        Document(title=str(i), embedding=[1, i % 7, i % 3]) for i in range(n)
    )


def analyze(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")


def store():
    return clients[remote_stores.ALIAS]


def fail_writes(operation: str, ids: list[str]) -> None:
    raise ServerError("store unreachable", status_code=503)


@pytest.fixture
def hooked(settings):
    """The synced test models' alias on a memory store whose writes can be made to fail."""
    settings.VECTRA = {
        **settings.VECTRA,
        remote_stores.ALIAS: {
            "PROVIDER": "tests.testapp.providers.HookedMemoryProvider",
            "MAX_RETRIES": 0,
        },
    }
    clients.reset()
    yield
    HookedMemoryProvider.before_write = None
    clients.reset()


# -- in place ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_in_place_field_shows_its_hnsw_index_and_a_plan_that_uses_it():
    documents(50)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    output = status("testapp.Document")
    assert "default (pgvector), searched in place on testapp_document.embedding" in output
    assert "document_embedding_hnsw: hnsw, vector_cosine_ops, m=16 ef_construction=64" in output
    assert "search plan  uses document_embedding_hnsw (Index Scan" in output
    assert "50 in the table, 50 with a vector" in output
    assert "embedder     none" in output
    assert "status       OK" in output


@pytest.mark.django_db
def test_a_small_table_the_planner_scans_is_a_note_not_an_action():
    documents(5)
    analyze("testapp_document")  # the planner now knows the table is tiny
    report = json_status("testapp.Document")[0]
    assert report["plan"]["uses_index"] is False
    assert report["plan"]["usable"] is True  # with sequential scans off it takes the index
    assert any("cheaper at 5 vectors" in note for note in report["notes"])
    status("testapp.Document")  # exit status 0


@pytest.mark.django_db
def test_a_large_table_whose_searches_skip_the_index_needs_analyze(monkeypatch):
    documents(5)
    analyze("testapp_document")
    monkeypatch.setattr(advice, "LARGE_TABLE", 5)
    output, error = failing_status("testapp.Document")
    assert error.returncode == 1
    assert "searches read all 5 rows (Seq Scan)" in output
    assert """fix: python manage.py dbshell -- -c 'ANALYZE "testapp_document"'""" in output


@pytest.mark.django_db
def test_a_large_table_without_a_vector_index_needs_one(monkeypatch):
    Product.objects.bulk_create(Product(name=str(i), image=[1, i]) for i in range(4))
    monkeypatch.setattr(advice, "LARGE_TABLE", 4)
    output, error = failing_status("testapp.Product.image")
    assert "no vector index on image: every search reads all 4 vectors" in output
    assert 'HnswIndex(name="testapp_product_image_hnsw", fields=["image"]' in output
    assert 'opclasses=[opclass("dotproduct")]' in output
    assert "testapp.Product.image" in str(error)


@pytest.mark.django_db
def test_a_small_table_without_a_vector_index_is_only_a_note():
    Product.objects.create(name="a", image=[1, 0])
    report = json_status("testapp.Product.image")[0]
    assert report["ann_indexes"] == [] and report["actions"] == []
    assert "fine at 1 vectors" in report["notes"][0]


@pytest.mark.django_db
def test_an_index_of_another_metric_cannot_serve_the_field():
    Product.objects.create(name="a", image=[1, 0])
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE INDEX product_image_l2 ON testapp_product USING hnsw (image vector_l2_ops)"
        )
    report = json_status("testapp.Product.image")[0]
    [index] = report["ann_indexes"]
    assert (index["name"], index["opclass"], index["serves_metric"]) == (
        "product_image_l2",
        "vector_l2_ops",
        False,
    )
    assert report["plan"]["usable"] is False
    assert report["needs_action"] is True
    assert "no index serves dotproduct searches" in report["actions"][0]["problem"]


@pytest.mark.django_db
def test_keyword_column_and_its_gin_index_are_shown():
    Entry.objects.create(title="hello", body="world")
    output = status("testapp.Entry")
    assert "keyword      embedding_text_search: GIN index testapp_entr_" in output
    assert "tests.testapp.embedders.CountingEmbedder, 8 dimensions" in output


@pytest.mark.django_db
def test_a_keyword_column_without_its_gin_index_needs_migrate():
    gin = json_status("testapp.Entry")[0]["keyword"]["gin_index"]
    with connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX "{gin}"')
    output, _ = failing_status("testapp.Entry")
    assert "the keyword column embedding_text_search has no GIN index" in output
    assert "fix: python manage.py makemigrations && python manage.py migrate" in output


@pytest.mark.django_db
def test_a_table_not_migrated_yet_needs_migrate_and_the_other_fields_are_still_shown():
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE testapp_product RENAME TO testapp_product_moved")
    output, error = failing_status("testapp.Product", "testapp.Document")
    assert "the table cannot be read" in output
    assert "fix: python manage.py migrate" in output
    assert "testapp.Document.embedding" in output
    assert "2 of 3 vector fields need action" in str(error)


@committed
def test_an_index_build_in_progress_is_shown(request):
    Document.objects.create(title="a", embedding=[1, 0, 0])
    url = database_url(request)
    writer = psycopg.connect(url)  # an open write holds the concurrent build in its first wait
    builder = psycopg.connect(url, autocommit=True)
    build = threading.Thread(
        target=builder.execute,
        args=(
            "CREATE INDEX CONCURRENTLY status_probe ON testapp_document USING hnsw "
            "(embedding vector_l2_ops)",
        ),
    )
    try:
        writer.execute(
            "INSERT INTO testapp_document (title, category, status, pinned) "
            "VALUES ('w', '', 'draft', false)"
        )
        build.start()
        deadline = time.monotonic() + 10
        while not json_status("testapp.Document")[0]["builds"] and time.monotonic() < deadline:
            time.sleep(0.05)
        output = status("testapp.Document")  # a build running needs no action
    finally:
        writer.rollback()
        build.join(timeout=30)
        builder.execute("DROP INDEX IF EXISTS status_probe")
        writer.close()
        builder.close()
    assert "build        CREATE INDEX CONCURRENTLY status_probe: waiting for writers" in output
    assert "status_probe is being built" in output


# -- synced --------------------------------------------------------------------------------------


@committed
def test_synced_field_shows_its_store_and_drift_made_behind_the_orm(hooked):
    docs = [RemoteDocument.objects.create(title=str(i), embedding=[1, i, 0]) for i in range(4)]
    index = RemoteDocument._meta.get_field("embedding").index_name
    store().delete(index, ids=[docs[0].vector_id])  # missing
    store().update(index, id=docs[1].vector_id, values=[9, 9, 9])  # stale
    store().upsert(index, vectors=[{"id": "testapp_remotedocument_999999", "values": [1, 1, 1]}])
    output, error = failing_status("testapp.RemoteDocument")
    assert "memory (memory), synced to index 'remote-docs', default namespace" in output
    assert "store        4 vectors (index of 3 dimensions)" in output
    assert "drift        1 missing, 1 stale, 1 ghosts" in output
    assert "fix: python manage.py vectra_reindex testapp.RemoteDocument" in output
    assert error.returncode == 1
    call_command("vectra_reindex", "testapp.RemoteDocument", verbosity=0)
    assert "drift        0 missing, 0 stale, 0 ghosts" in status("testapp.RemoteDocument")


@committed
def test_no_drift_skips_the_comparison(hooked):
    doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    store().delete("remote-docs", ids=[doc.vector_id])
    output = status("testapp.RemoteDocument", "--no-drift")
    assert "drift        not checked" in output
    assert "drift not checked (--no-drift)" in output


@committed
def test_backlog_and_parked_entries_are_counted_and_parked_ones_need_retry(hooked, settings):
    HookedMemoryProvider.before_write = fail_writes
    settings.VECTRA_OUTBOX = {"MAX_ATTEMPTS": 1, "RETRY_DELAY": 0, "RECOVER_AFTER": 0}
    RemoteDocument.objects.create(title="parked", embedding=[1, 0, 0])
    settings.VECTRA_OUTBOX = {"MAX_ATTEMPTS": 10, "RETRY_DELAY": 3600, "RECOVER_AFTER": 3600}
    RemoteDocument.objects.create(title="waiting", embedding=[0, 1, 0])
    assert sorted(SyncEntry.objects.values_list("parked", flat=True)) == [False, True]
    output, _ = failing_status("testapp.RemoteDocument")
    assert "outbox       1 pending, 1 parked" in output
    assert "fix: python manage.py vectra_sync --retry-parked testapp.RemoteDocument" in output
    assert "1 outbox entry pending since" in output
    assert "drift        2 missing, 0 stale, 0 ghosts" in output


@committed
def test_a_backlog_alone_needs_no_action(hooked):
    RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    SyncEntry.objects.create(model="testapp.RemoteDocument", object_pk="0", op="delete")
    report = json_status("testapp.RemoteDocument")[0]
    assert (report["outbox"]["pending"], report["outbox"]["parked"]) == (1, 0)
    assert report["needs_action"] is False
    status("testapp.RemoteDocument")


@pytest.mark.django_db
def test_an_unreachable_store_needs_action(settings):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.VECTRA = {
        **settings.VECTRA,
        remote_stores.ALIAS: {
            "PROVIDER": "pinecone",
            "API_KEY": "key",
            "HOST": f"http://127.0.0.1:{port}",
            "MAX_RETRIES": 0,
            "TIMEOUT": 2,
        },
    }
    clients.reset()
    output, _ = failing_status("testapp.RemoteDocument")
    assert "store        unreachable:" in output
    assert "drift        not checked" in output
    assert "check the store and VECTRA['memory']" in output


# -- JSON, exit status, selection ----------------------------------------------------------------


@committed
def test_json_is_one_document_with_the_same_keys_for_every_field(hooked):
    RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    reports = json_status("testapp.Document", "testapp.RemoteDocument", "testapp.Entry")
    assert [r["field"] for r in reports] == [
        "testapp.Document.embedding",
        "testapp.RemoteDocument.embedding",
        "testapp.Entry.embedding",
    ]
    assert all(set(r) == REPORT_KEYS for r in reports)
    in_place, synced, keyword = reports
    assert (in_place["mode"], in_place["store"], in_place["drift"]) == ("in_place", None, None)
    assert in_place["ann_indexes"][0]["options"] == {"m": "16", "ef_construction": "64"}
    assert synced["mode"] == "synced" and synced["plan"] is None
    assert (synced["index"], synced["namespace"]) == ("remote-docs", "")
    assert synced["store"]["vectors"] == 1
    assert synced["drift"] == {
        "checked": True,
        "missing": 0,
        "stale": 0,
        "ghosts": 0,
        "ghosts_complete": True,
        "examples": [],
    }
    assert synced["outbox"]["pending"] == 0
    assert keyword["embedder"] == {
        "name": "tests.testapp.embedders.CountingEmbedder",
        "model": None,
        "dimension": 8,
        "error": None,
    }


@committed
def test_json_run_with_drift_still_prints_the_document_and_exits_1(hooked):
    doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    store().delete("remote-docs", ids=[doc.vector_id])
    out = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("vectra_status", "testapp.RemoteDocument", "--json", stdout=out)
    assert info.value.returncode == 1
    [report] = json.loads(out.getvalue())
    assert report["drift"]["missing"] == 1
    assert report["actions"] == [
        {
            "problem": "the store differs from the table: 1 missing, 0 stale, 0 ghosts",
            "fix": "python manage.py vectra_reindex testapp.RemoteDocument",
        }
    ]


@pytest.mark.django_db
def test_a_field_argument_selects_that_field_only():
    reports = json_status("testapp.Product.text")
    assert [r["field"] for r in reports] == ["testapp.Product.text"]
    assert reports[0]["namespace"] == "products"


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("testapp.Nope", "Unknown model or app 'testapp.Nope'"),
        ("nope", "Unknown model or app 'nope'"),
        (
            "testapp.Document.nope",
            "testapp.Document has no vector field 'nope'; its vector fields: embedding",
        ),
        ("testapp.Author", "'testapp.Author' has no model with a VectorField"),
    ],
)
@pytest.mark.django_db
def test_an_unknown_model_or_field_is_a_clear_error(label, message):
    with pytest.raises(CommandError, match=message):
        call_command("vectra_status", label, stdout=StringIO())
