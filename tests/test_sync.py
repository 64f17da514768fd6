"""Transaction-safe sync of synced vector fields, on real PostgreSQL.

Tests that take ``remote_store`` run once per store (memory, Pinecone, Qdrant) behind the
test models' alias; the ``CountedDocument`` tests count calls on one memory provider.
"""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from tests import remote_stores
from tests.testapp.models import (
    CountedDocument,
    Document,
    ManualDocument,
    RemoteDocument,
    UUIDDocument,
)
from vectra_django import clients, on_operation

committed = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_clients():
    clients.reset()
    yield
    clients.reset()


def stored(model=RemoteDocument, field="embedding"):
    """id -> Vector of everything in the model's index, read through the client API."""
    return remote_stores.stored(model, field)


def count(model=RemoteDocument, field="embedding"):
    return remote_stores.count(model, field)


def calls():
    return clients["counting"].provider.calls


@committed
def test_save_syncs_after_commit_with_metadata(remote_store):
    with transaction.atomic():
        doc = RemoteDocument.objects.create(
            title="a", category="news", status="published", year=2020, embedding=[1, 0, 0]
        )
        assert count() == 0
    vector = stored()[doc.vector_id]
    assert vector.values == [1.0, 0.0, 0.0]
    assert vector.metadata == {"category": "news", "status": "published", "year": 2020}


@committed
def test_rollback_leaves_no_vector(remote_store):
    with pytest.raises(RuntimeError), transaction.atomic():
        RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
        raise RuntimeError("boom")
    assert count() == 0


@committed
def test_savepoint_rollback_discards_only_its_writes(remote_store):
    with transaction.atomic():
        kept = RemoteDocument.objects.create(title="kept", embedding=[1, 0, 0])
        with pytest.raises(RuntimeError), transaction.atomic():
            RemoteDocument.objects.create(title="lost", embedding=[0, 1, 0])
            raise RuntimeError("boom")
        later = RemoteDocument.objects.create(title="later", embedding=[0, 0, 1])
    assert sorted(stored()) == sorted([kept.vector_id, later.vector_id])


@committed
def test_rollback_after_a_save_in_a_committed_savepoint_leaves_nothing(remote_store):
    with pytest.raises(RuntimeError), transaction.atomic():
        with transaction.atomic():
            RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
        raise RuntimeError("boom")
    assert count() == 0


@committed
def test_one_upsert_per_commit_for_many_saves():
    with transaction.atomic():
        for i in range(5):
            CountedDocument.objects.create(title=str(i), embedding=[1, i, 0])
    assert calls() == [("upsert", 5)]


@committed
def test_last_write_per_id_wins_within_a_transaction():
    with transaction.atomic():
        doc = CountedDocument.objects.create(title="a", embedding=[1, 0, 0])
        doc.embedding = [0, 1, 0]
        doc.save()
    assert calls() == [("upsert", 1)]
    assert clients["counting"].fetch("counted", [doc.vector_id])[doc.vector_id].values == [0, 1, 0]


@committed
def test_create_then_delete_in_one_transaction_writes_only_the_delete():
    with transaction.atomic():
        doc = CountedDocument.objects.create(title="a", embedding=[1, 0, 0])
        doc.delete()
    assert calls() == [("delete", 1)]


@committed
def test_autocommit_save_syncs_at_once(remote_store):
    doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    assert doc.vector_id in stored()


@committed
def test_deleted_rows_vector_is_gone_after_commit(remote_store):
    doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    vid = doc.vector_id
    with transaction.atomic():
        doc.delete()
        assert vid in stored()
    assert doc.pk is None
    assert vid not in stored()


@committed
def test_queryset_delete_removes_vectors(remote_store):
    docs = [RemoteDocument.objects.create(title=str(i), embedding=[1, i, 0]) for i in range(3)]
    RemoteDocument.objects.filter(pk__in=[d.pk for d in docs[:2]]).delete()
    assert list(stored()) == [docs[2].vector_id]


@committed
def test_save_with_null_vector_deletes_the_entry(remote_store):
    doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    doc.embedding = None
    doc.save()
    assert count() == 0


@committed
def test_update_fields_touching_nothing_synced_costs_nothing():
    doc = CountedDocument.objects.create(title="a", embedding=[1, 0, 0])
    calls().clear()
    doc.title = "b"
    doc.save(update_fields=["title"])
    assert calls() == []


@committed
def test_update_fields_touching_metadata_resyncs(remote_store):
    doc = RemoteDocument.objects.create(title="a", status="draft", embedding=[1, 0, 0])
    doc.status = "published"
    doc.save(update_fields=["status"])
    assert stored()[doc.vector_id].metadata["status"] == "published"


@committed
def test_bulk_create_syncs_in_one_upsert():
    CountedDocument.objects.bulk_create(
        [CountedDocument(title=str(i), embedding=[1, i, 0]) for i in range(4)]
    )
    assert calls() == [("upsert", 4)]


@committed
def test_bulk_update_syncs_changed_vectors(remote_store):
    docs = [RemoteDocument.objects.create(title=str(i), embedding=[1, 0, 0]) for i in range(2)]
    for doc in docs:
        doc.embedding = [0, 0, 1]
    RemoteDocument.objects.bulk_update(docs, ["embedding"])
    assert all(v.values == [0, 0, 1] for v in stored().values())


@committed
def test_bulk_update_of_unsynced_fields_costs_nothing():
    docs = [CountedDocument.objects.create(title=str(i), embedding=[1, 0, 0]) for i in range(2)]
    calls().clear()
    for doc in docs:
        doc.title = "x"
    CountedDocument.objects.bulk_update(docs, ["title"])
    assert calls() == []


@committed
def test_queryset_update_resyncs_affected_rows(remote_store):
    a = RemoteDocument.objects.create(title="a", status="draft", embedding=[1, 0, 0])
    b = RemoteDocument.objects.create(title="b", status="draft", embedding=[0, 1, 0])
    RemoteDocument.objects.filter(pk=a.pk).update(status="published")
    vectors = stored()
    assert vectors[a.vector_id].metadata["status"] == "published"
    assert vectors[b.vector_id].metadata["status"] == "draft"


@committed
def test_queryset_update_setting_null_vector_deletes_entries(remote_store):
    RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    RemoteDocument.objects.update(embedding=None)
    assert count() == 0


@committed
def test_queryset_update_of_unsynced_fields_costs_nothing():
    CountedDocument.objects.create(title="a", embedding=[1, 0, 0])
    calls().clear()
    CountedDocument.objects.update(title="b")
    assert calls() == []


@committed
def test_in_place_fields_are_not_copied_anywhere():
    Document.objects.create(title="a", embedding=[1, 0, 0])
    assert list(clients.all(initialized_only=True)) == []


@committed
def test_auto_index_false_syncs_nothing_until_asked(remote_store):
    doc = ManualDocument.objects.create(title="a", embedding=[1, 0, 0])
    assert count(ManualDocument) == 0
    doc.index_vector()
    assert list(stored(ManualDocument)) == [doc.vector_id]
    doc.delete_vector()
    assert count(ManualDocument) == 0


@committed
def test_index_is_created_with_the_fields_dimension_and_metric(remote_store):
    UUIDDocument.objects.create(title="a", embedding=[1, 2])
    vf = remote_stores.field(UUIDDocument)
    description = vf.client().describe_index(vf.index_name)
    assert (description["dimension"], description["metric"]) == (2, "euclidean")


@committed
def test_uuid_primary_key_vector_ids(remote_store):
    doc = UUIDDocument.objects.create(title="a", embedding=[1, 2])
    assert doc.vector_id == f"testapp_uuiddocument_{doc.pk}"
    assert stored(UUIDDocument)[doc.vector_id].values == [1.0, 2.0]


@committed
def test_immediate_sync_writes_inside_the_transaction(remote_store, settings):
    settings.VECTRA_SYNC = "immediate"
    with pytest.raises(RuntimeError), transaction.atomic():
        RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
        assert count() == 1
        raise RuntimeError("boom")
    assert count() == 1  # documented: immediate writes are not rolled back


@committed
def test_task_sync_runs_through_django_tasks(remote_store, settings):
    from django_tasks.signals import task_enqueued

    settings.VECTRA_SYNC = "task"
    enqueued = []

    def receiver(sender, task_result, **kwargs):
        enqueued.append(task_result)

    task_enqueued.connect(receiver)
    try:
        with transaction.atomic():
            doc = RemoteDocument.objects.create(title="a", status="draft", embedding=[1, 0, 0])
            doc.status = "published"
            doc.save()
            gone = RemoteDocument.objects.create(title="b", embedding=[0, 1, 0])
            gone_id = gone.vector_id
            assert enqueued == []
        assert len(enqueued) == 1
        assert enqueued[0].task.name == "drain_outbox"
        assert stored()[doc.vector_id].metadata["status"] == "published"
        with transaction.atomic():
            gone.delete()
        assert gone_id not in stored()
    finally:
        task_enqueued.disconnect(receiver)


@committed
def test_task_sync_enqueues_nothing_on_rollback(settings):
    from django_tasks.signals import task_enqueued

    settings.VECTRA_SYNC = "task"
    enqueued = []

    def receiver(sender, task_result, **kwargs):
        enqueued.append(task_result)

    task_enqueued.connect(receiver)
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
            raise RuntimeError("boom")
        assert enqueued == []
    finally:
        task_enqueued.disconnect(receiver)


@committed
def test_sync_failure_is_logged_reported_and_kept_for_retry(remote_store, settings, caplog):
    from vectra_django.models import SyncEntry

    settings.VECTRA_INSTRUMENTATION = True
    events = []
    on_operation(events.append)
    clients["memory"].create_index("remote-docs", dimension=5)  # wrong shape on purpose
    with caplog.at_level(logging.ERROR, logger="vectra_django.sync"), transaction.atomic():
        doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    assert RemoteDocument.objects.count() == 1  # the row is committed
    assert "vectra_sync" in caplog.text and "dimension" in caplog.text
    failed = [e for e in events if e.operation == "sync_upsert"]
    assert failed and failed[0].failure and failed[0].index == "remote-docs"
    entry = SyncEntry.objects.get()
    assert (entry.object_pk, entry.attempts, entry.parked) == (str(doc.pk), 1, False)
    assert "dimension" in entry.last_error


@committed
def test_sync_success_is_reported(remote_store, settings):
    settings.VECTRA_INSTRUMENTATION = True
    events = []
    on_operation(events.append)
    with transaction.atomic():
        RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
        RemoteDocument.objects.create(title="b", embedding=[0, 1, 0])
    sync_events = [e for e in events if e.operation == "sync_upsert"]
    assert len(sync_events) == 1 and sync_events[0].metadata["vector_count"] == 2
    assert sync_events[0].provider == remote_store


@pytest.mark.django_db
def test_capture_on_commit_callbacks_runs_the_batch(
    remote_store, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
        assert count() == 0
    assert doc.vector_id in stored()


@pytest.mark.django_db
def test_unknown_sync_strategy_is_a_configuration_error(settings):
    from vectra_django.errors import ConfigurationError

    settings.VECTRA_SYNC = "sometimes"
    with pytest.raises(ConfigurationError, match="VECTRA_SYNC"):
        RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])


@committed
def test_sync_queryset_resyncs_rows_changed_behind_the_orm(remote_store):
    from tests.testapp.factories import RemoteDocumentFactory
    from vectra_django.db.sync import sync_queryset

    docs = RemoteDocumentFactory.create_batch(4)
    clients["memory"].delete("remote-docs", delete_all=True)
    sync_queryset(RemoteDocument.objects.filter(pk__in=[d.pk for d in docs[:3]]))
    assert count() == 3


@committed
def test_teardown_disconnects_the_signals(remote_store):
    from django.apps import apps

    processor = apps.get_app_config("vectra_django").sync_processor
    processor.teardown()
    try:
        RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
        assert count() == 0
    finally:
        processor.setup()
    RemoteDocument.objects.create(title="b", embedding=[1, 0, 0])
    assert count() == 1
