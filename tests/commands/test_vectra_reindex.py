"""manage.py vectra_reindex."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import remote_stores
from tests.testapp.models import CountedDocument, Document, Product, RemoteDocument, UUIDDocument
from vectra_django import clients

pytestmark = pytest.mark.django_db

INDEX = "remote-docs"


@pytest.fixture(autouse=True)
def fresh_clients():
    clients.reset()
    yield
    clients.reset()


@pytest.fixture
def rows():
    """Rows saved in the test transaction, so on-commit sync never copied them."""
    return [
        RemoteDocument.objects.create(title=str(i), status="published", embedding=[1, i, 0])
        for i in range(5)
    ]


def reindex(*args, **kwargs):
    out = StringIO()
    call_command("vectra_reindex", *args, stdout=out, **kwargs)
    return out.getvalue()


def total(index=INDEX, alias="memory"):
    client = clients[alias]
    return client.stats(index)["total_vector_count"] if client.index_exists(index) else 0


def seed(ids, index=INDEX, namespace=None, dimension=3):
    """Entries written straight to the store, as if left behind by rows deleted long ago."""
    client = clients["memory"]
    client.create_index(index, dimension=dimension)
    client.upsert(index, ids=ids, values=[[1] * dimension] * len(ids), namespace=namespace)


def test_reindex_copies_every_row_with_metadata(remote_store, rows):
    output = reindex("testapp.RemoteDocument")
    assert total() == RemoteDocument.objects.count() == 5
    stored = clients["memory"].fetch(INDEX, [rows[2].vector_id])[rows[2].vector_id]
    assert stored.values == [1.0, 2.0, 0.0]
    assert stored.metadata == {"category": "", "status": "published"}
    assert "upserted 5, deleted 0" in output and "OK" in output


def test_reindex_reads_keyset_batches_never_offset():
    for i in range(5):
        CountedDocument.objects.create(title=str(i), embedding=[1, i, 0])
    with CaptureQueriesContext(connection) as ctx:
        reindex("testapp.CountedDocument", batch_size=2)
    queries = [q["sql"] for q in ctx.captured_queries]
    reads = [sql for sql in queries if 'FROM "testapp_counteddocument"' in sql]
    assert not any("OFFSET" in sql for sql in reads)
    batches = [sql for sql in reads if '"testapp_counteddocument"."embedding"' in sql]
    assert len(batches) == 4 and sum('"id" >' in sql for sql in batches) == 3  # + an empty one
    # each batch's versions are read back once it is written, by its own key range
    rechecks = [sql for sql in reads if "xmin" in sql and sql not in batches]
    assert len(rechecks) == 3 and all('"id" <=' in sql for sql in rechecks)
    assert clients["counting"].provider.calls == [("upsert", 2), ("upsert", 2), ("upsert", 1)]


def test_reindex_twice_gives_the_same_index(remote_store, rows):
    reindex("testapp.RemoteDocument")
    reindex("testapp.RemoteDocument")
    assert total() == 5


def test_reindex_deletes_entries_of_rows_without_vectors(remote_store, rows):
    reindex("testapp.RemoteDocument")
    RemoteDocument.objects.filter(pk=rows[0].pk).update(embedding=None)
    reindex("testapp.RemoteDocument")
    assert total() == 4


def test_clear_empties_the_namespace_first(remote_store, rows):
    seed(["testapp_remotedocument_999999"])
    reindex("testapp.RemoteDocument", clear=True, interactive=False)
    assert total() == 5
    assert clients["memory"].fetch(INDEX, ["testapp_remotedocument_999999"]) == {}


def test_clear_asks_before_deleting(remote_store, rows, monkeypatch):
    seed(["testapp_remotedocument_999999"])
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    output = reindex("testapp.RemoteDocument", clear=True)
    assert "cancelled" in output
    assert total() == 1


def test_remove_deletes_ids_whose_rows_are_gone(remote_store, rows):
    seed(["testapp_remotedocument_999999", "testapp_otherdocument_1"])
    output = reindex("testapp.RemoteDocument", remove=True)
    ids = clients["memory"].fetch(
        INDEX, ["testapp_remotedocument_999999", "testapp_otherdocument_1"]
    )
    assert list(ids) == ["testapp_otherdocument_1"]  # another table's ids are left alone
    assert total() == 6
    assert "deleted 1" in output


def test_remove_pages_through_the_index(remote_store, rows):
    seed([f"testapp_remotedocument_{900000 + i}" for i in range(7)])
    reindex("testapp.RemoteDocument", remove=True, batch_size=2)
    assert total() == 5


def test_remove_deletes_orphans_across_many_pages(remote_store, rows):
    orphans = [f"testapp_remotedocument_{900000 + i}" for i in range(250)]
    seed(orphans)
    output = reindex("testapp.RemoteDocument", remove=True)
    assert total() == 5
    assert clients["memory"].fetch(INDEX, orphans[::50]) == {}
    assert "deleted 250" in output


def test_remove_works_in_the_fields_namespace(remote_store):
    kept = Product.objects.create(name="kept", text=[1, 0, 0, 0])
    text = Product._meta.get_field("text")
    seed(["testapp_product_999999"], index=text.index_name, namespace="products", dimension=4)
    seed(["testapp_product_999998"], index=text.index_name, dimension=4)  # another namespace
    reindex("testapp.Product", remove=True)
    client = clients["memory"]
    assert list(client.list_ids(text.index_name, namespace="products")) == [kept.vector_id]
    assert list(client.list_ids(text.index_name)) == ["testapp_product_999998"]


def test_remove_dry_run_deletes_nothing(rows):
    seed(["testapp_remotedocument_999999"])
    output = reindex("testapp.RemoteDocument", remove=True, dry_run=True)
    assert "deleted 1" in output
    assert total() == 1


def test_remove_needs_a_provider_that_lists_ids(rows, settings):
    settings.VECTRA = {
        "default": {"PROVIDER": "pgvector", "DATABASE": "default"},
        "memory": {"PROVIDER": "tests.testapp.providers.UnlistableMemoryProvider"},
    }
    seed(["testapp_remotedocument_999999"])
    with pytest.raises(CommandError, match="--clear"):
        reindex("testapp.RemoteDocument", remove=True)


def test_dry_run_writes_nothing(remote_store, rows):
    output = reindex("testapp.RemoteDocument", dry_run=True, clear=True)
    assert total() == 0
    assert not clients["memory"].index_exists(INDEX)
    assert "would upsert 5" in output


def test_in_place_fields_are_reported_not_copied():
    Document.objects.create(title="a", embedding=[1, 0, 0])
    output = reindex("testapp.Document")
    assert "the column is the index" in output
    assert list(clients.all(initialized_only=True)) == []


def test_all_models_by_default(remote_store, rows):
    UUIDDocument.objects.create(title="u", embedding=[1, 2])
    reindex()
    assert total() == 5
    assert total(UUIDDocument._meta.get_field("embedding").index_name) == 1


def test_app_label_selects_its_models(rows):
    reindex("testapp")
    assert total() == 5


def test_unknown_model_is_a_command_error():
    with pytest.raises(CommandError, match=r"app_label\.ModelName"):
        reindex("testapp.Nope")


def test_model_without_vector_field_is_a_command_error():
    with pytest.raises(CommandError, match="no model with a VectorField"):
        reindex("auth")


def test_dimension_mismatch_is_a_command_error(rows):
    clients["memory"].create_index(INDEX, dimension=7)
    with pytest.raises(CommandError, match="dimension 7"):
        reindex("testapp.RemoteDocument")


def test_bad_batch_size_is_a_command_error():
    with pytest.raises(CommandError, match="batch-size"):
        reindex(batch_size=0)


def test_verbosity_zero_prints_nothing(rows):
    assert reindex("testapp.RemoteDocument", verbosity=0) == ""
    assert total() == 5


def test_verbosity_two_reports_progress_and_timing(rows):
    output = reindex("testapp.RemoteDocument", verbosity=2, batch_size=2)
    assert "2/5 rows" in output and "5/5 rows" in output and "created index" in output


# -- writes overlapped with reads (outside any transaction) -----------------------------------


def committed_rows(count, with_null=False):
    """Rows committed (synced at once), then the index dropped: only a reindex refills it."""
    docs = [
        RemoteDocument.objects.create(title=str(i), status="s", embedding=[1, i, 0])
        for i in range(count)
    ]
    if with_null:
        RemoteDocument.objects.create(title="none", embedding=None)
    vf = RemoteDocument._meta.get_field("embedding")
    client = vf.client()
    if client.index_exists(vf.index_name):
        client.delete_index(vf.index_name)
    return docs


def spy_on_writes(monkeypatch, pause=0.0):
    """Record each write's thread, and the most writes ever in flight at once."""
    import threading
    import time

    from vectra_django.management.commands import vectra_reindex

    seen = {"threads": [], "active": 0, "most": 0}
    lock = threading.Lock()
    original = vectra_reindex.write_batch

    def spy(*args, **kwargs):
        with lock:
            seen["threads"].append(threading.current_thread().name)
            seen["active"] += 1
            seen["most"] = max(seen["most"], seen["active"])
        try:
            time.sleep(pause)
            return original(*args, **kwargs)
        finally:
            with lock:
                seen["active"] -= 1

    monkeypatch.setattr(vectra_reindex, "write_batch", spy)
    return seen


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_batches_are_written_by_workers_while_the_next_are_read(
    remote_store, monkeypatch
):
    docs = committed_rows(25, with_null=True)
    seen = spy_on_writes(monkeypatch, pause=0.05)
    output = reindex("testapp.RemoteDocument", batch_size=4)
    threads = seen["threads"]
    assert len(threads) == 7 and all(n.startswith("vectra-reindex-") for n in threads)
    # Two writers by default; qdrant-client's local mode takes one writer at a time.
    assert seen["most"] == (1 if remote_store == "qdrant" else 2)
    assert "upserted 25, deleted 0" in output
    stored = remote_stores.stored(RemoteDocument)
    assert sorted(stored) == sorted(d.vector_id for d in docs)
    assert stored[docs[13].vector_id].values == [1.0, 13.0, 0.0]
    assert stored[docs[13].vector_id].metadata == {"category": "", "status": "s"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("workers", "most"), [(0, 1), (1, 1), (3, 3)])
def test_workers_sets_how_many_batches_are_written_at_once(monkeypatch, workers, most):
    import threading

    docs = committed_rows(13)
    seen = spy_on_writes(monkeypatch, pause=0.05)
    reindex("testapp.RemoteDocument", batch_size=2, workers=workers)
    assert seen["most"] == most
    on_main = {threading.main_thread().name} == set(seen["threads"])
    assert on_main is (workers == 0)
    assert sorted(remote_stores.stored(RemoteDocument)) == sorted(d.vector_id for d in docs)


def test_workers_cannot_be_negative():
    with pytest.raises(CommandError, match="--workers"):
        reindex(workers=-1)


@pytest.mark.django_db(transaction=True)
def test_writer_threads_close_their_database_connections(monkeypatch):
    from django.db import connections

    from vectra_django.management.commands import vectra_reindex

    committed_rows(6)
    opened = []
    original = vectra_reindex.write_batch

    def using_the_database(*args, **kwargs):
        connections["default"].ensure_connection()
        opened.append(connections["default"])
        return original(*args, **kwargs)

    monkeypatch.setattr(vectra_reindex, "write_batch", using_the_database)
    reindex("testapp.RemoteDocument", batch_size=2)
    assert opened and all(c.connection is None for c in opened)


@pytest.mark.django_db(transaction=True)
def test_a_failed_overlapped_write_fails_the_command_and_stops_reading(monkeypatch):
    from vectra_django.errors import ServerError
    from vectra_django.management.commands import vectra_reindex

    committed_rows(20)
    calls = []

    def failing(client, index, namespace, batch, missing):
        calls.append(batch.ids)
        raise ServerError("the store is down")

    monkeypatch.setattr(vectra_reindex, "write_batch", failing)
    with pytest.raises(CommandError, match="the store is down"):
        reindex("testapp.RemoteDocument", batch_size=4)
    # At most the two workers' batches were sent; the rest was never read.
    assert 1 <= len(calls) <= 2


def test_the_cycle_collector_pauses_during_the_copy_and_comes_back(rows, monkeypatch):
    import gc

    from vectra_django.management.commands import vectra_reindex

    states = []
    original = vectra_reindex.write_batch

    def spy(*args, **kwargs):
        states.append(gc.isenabled())
        return original(*args, **kwargs)

    monkeypatch.setattr(vectra_reindex, "write_batch", spy)
    assert gc.isenabled()
    reindex("testapp.RemoteDocument", batch_size=2)
    assert states == [False, False, False] and gc.isenabled()
    gc.disable()
    try:
        reindex("testapp.RemoteDocument")
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()


@pytest.mark.django_db(transaction=True)
def test_a_provider_that_does_not_say_it_takes_concurrent_writes_gets_one_writer(monkeypatch):
    from vectra_django.providers import BaseProvider

    docs = committed_rows(13)
    monkeypatch.delattr(BaseProvider, "concurrent_writes")  # as a custom provider would lack it
    seen = spy_on_writes(monkeypatch, pause=0.05)
    reindex("testapp.RemoteDocument", batch_size=2, workers=3)
    assert seen["most"] == 1 and len(seen["threads"]) == 7
    assert sorted(remote_stores.stored(RemoteDocument)) == sorted(d.vector_id for d in docs)
