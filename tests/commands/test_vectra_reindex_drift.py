"""vectra_reindex as drift detection and repair: --check, ghost removal by default, models that
share an index (multi-table inheritance, table-name prefixes), and reindexing beside live writes.
"""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from tests import remote_stores
from tests.testapp.models import Note, NoteDraft, Place, Post, RemoteDocument, Restaurant
from vectra_django import clients
from vectra_django.models import SyncEntry

committed = pytest.mark.django_db(transaction=True)
pytestmark = pytest.mark.usefixtures("fresh_clients")


@pytest.fixture
def unlistable_store(settings):
    """The synced test models' store, on a memory provider that cannot list ids."""
    settings.VECTRA = {
        **settings.VECTRA,
        remote_stores.ALIAS: {"PROVIDER": "tests.testapp.providers.UnlistableMemoryProvider"},
    }
    clients.reset()


def reindex(*args, **kwargs):
    out = StringIO()
    call_command("vectra_reindex", *args, stdout=out, **kwargs)
    return out.getvalue()


def stored(model=RemoteDocument):
    return remote_stores.stored(model)


def store_client():
    return clients[remote_stores.ALIAS]


# -- --check --------------------------------------------------------------------------------------


@committed
def test_check_of_a_store_in_step_passes_and_writes_nothing(remote_store):
    for i in range(3):
        RemoteDocument.objects.create(title=str(i), embedding=[1, i, 0])
    output = reindex("testapp.RemoteDocument", check=True)
    assert "3 vectors in the table, 0 missing, 0 stale, 0 ghosts" in output


@committed
def test_check_counts_missing_stale_and_ghost_vectors_and_exits_non_zero(remote_store):
    docs = [RemoteDocument.objects.create(title=str(i), embedding=[1, i, 0]) for i in range(4)]
    vf = RemoteDocument._meta.get_field("embedding")
    client = store_client()
    client.delete(vf.index_name, ids=[docs[0].vector_id])  # missing
    client.update(vf.index_name, id=docs[1].vector_id, values=[9, 9, 9])  # stale values
    client.update(vf.index_name, id=docs[2].vector_id, metadata={"status": "old"})  # stale meta
    ghost = "testapp_remotedocument_999999"
    client.upsert(vf.index_name, vectors=[{"id": ghost, "values": [1, 1, 1]}])
    before = stored()
    with pytest.raises(CommandError, match=r"Repair: python manage.py vectra_reindex testapp\."):
        out = StringIO()
        call_command("vectra_reindex", "testapp.RemoteDocument", check=True, stdout=out)
    assert "1 missing, 2 stale, 1 ghosts" in out.getvalue()
    assert f"ghost {ghost}" in out.getvalue()
    assert stored() == before  # nothing written


@committed
def test_raw_sql_drift_is_found_by_check_and_repaired_by_a_plain_reindex():
    doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    gone = RemoteDocument.objects.create(title="gone", embedding=[0, 1, 0])
    with connection.cursor() as cursor:  # no signals, no outbox entries
        cursor.execute("UPDATE testapp_remotedocument SET status = 'raw' WHERE id = %s", [doc.pk])
        cursor.execute("DELETE FROM testapp_remotedocument WHERE id = %s", [gone.pk])
    with pytest.raises(CommandError, match="differ"):
        reindex("testapp.RemoteDocument", check=True)
    output = reindex("testapp.RemoteDocument")
    assert "upserted 1, deleted 1" in output
    assert stored()[doc.vector_id].metadata["status"] == "raw"
    assert gone.vector_id not in stored()
    reindex("testapp.RemoteDocument", check=True)  # clean now: no error


@committed
def test_check_reports_pending_outbox_entries(settings):
    SyncEntry.objects.create(model="testapp.RemoteDocument", object_pk="1", op="upsert")
    output = reindex("testapp.RemoteDocument", check=True)
    assert "1 sync outbox entries pending" in output


@committed
def test_check_without_id_listing_counts_only_ghosts_of_null_vectors(unlistable_store):
    RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_remotedocument SET embedding = NULL")
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("vectra_reindex", "testapp.RemoteDocument", check=True, stdout=out)
    assert "1 (of NULL vectors) ghosts" in out.getvalue()
    assert "cannot list ids" in out.getvalue()


# -- repair --------------------------------------------------------------------------------------


@committed
def test_plain_reindex_removes_ghosts_and_keep_extra_keeps_them():
    RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    vf = RemoteDocument._meta.get_field("embedding")
    ghost = "testapp_remotedocument_999999"
    store_client().upsert(vf.index_name, vectors=[{"id": ghost, "values": [1, 1, 1]}])
    reindex("testapp.RemoteDocument", keep_extra=True)
    assert ghost in stored()
    reindex("testapp.RemoteDocument")
    assert ghost not in stored()


@committed
def test_a_store_that_cannot_list_ids_warns_instead_of_removing(unlistable_store):
    RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    output = reindex("testapp.RemoteDocument")
    assert "Ghosts not removed" in output and "--clear" in output


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"check": True, "clear": True}, "--check and --clear"),
        ({"check": True, "keep_extra": True}, "--check and --keep-extra"),
        ({"clear": True, "keep_extra": True}, "--clear and --keep-extra"),
        ({"remove": True, "keep_extra": True}, "--remove and --keep-extra"),
    ],
)
def test_conflicting_flags_are_command_errors_and_change_nothing(flags, message):
    RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    vf = RemoteDocument._meta.get_field("embedding")
    store_client().create_index(vf.index_name, dimension=3)
    store_client().upsert(vf.index_name, vectors=[{"id": "x_1", "values": [1, 1, 1]}])
    with pytest.raises(CommandError, match=message):
        reindex("testapp.RemoteDocument", interactive=False, **flags)
    assert list(stored()) == ["x_1"]


# -- 8. models that share an index ----------------------------------------------------------------


@committed
def test_8_reindexing_an_app_with_a_multi_table_child_keeps_the_parents_vectors():
    place = Place.objects.create(name="park", embedding=[1, 0, 0])
    restaurant = Restaurant.objects.create(name="diner", stars=2, embedding=[0, 1, 0])
    expected = {f"testapp_place_{place.pk}", f"testapp_place_{restaurant.pk}"}
    for flags in ({}, {"remove": True}, {"clear": True, "interactive": False}):
        output = reindex("testapp", **flags)
        assert set(stored(Place)) == expected, flags
    assert "testapp.Restaurant" not in output  # one pass, the parent's


@committed
def test_8_reindexing_only_the_child_reindexes_the_parents_field():
    place = Place.objects.create(name="park", embedding=[1, 0, 0])
    Restaurant.objects.create(name="diner", stars=2, embedding=[0, 1, 0])
    output = reindex("testapp.Restaurant")
    assert "testapp.Place.embedding (for testapp.Restaurant)" in output
    assert f"testapp_place_{place.pk}" in stored(Place)


@committed
def test_8_child_vector_search_finds_rows_through_the_parents_field():
    Place.objects.create(name="park", embedding=[1, 0, 0])
    diner = Restaurant.objects.create(name="diner", stars=2, embedding=[0, 1, 0])
    found = list(Restaurant.objects.vector_search([0, 1, 0], limit=5))
    assert found == [diner]
    assert found[0].vector_score == pytest.approx(1.0)


@committed
def test_8_a_model_whose_table_prefixes_another_leaves_the_others_ids():
    note = Note.objects.create(text="n", embedding=[1, 0, 0])
    drafts = [NoteDraft.objects.create(text=str(i), embedding=[0, 1, 0]) for i in range(6)]
    assert f"testapp_note_2_{drafts[5].pk}" in stored(Note)
    reindex("testapp.Note")  # removes Note's ghosts: none of NoteDraft's ids is one
    reindex("testapp.Note", check=True)
    assert len(stored(Note)) == 7
    reindex("testapp.Note", clear=True, interactive=False)  # clears only Note's ids
    assert len(stored(Note)) == 7
    assert note.vector_id in stored(Note)


# -- 2. a reindex beside live writes --------------------------------------------------------------


@committed
def test_2_a_reindex_racing_a_live_write_ends_with_the_committed_vector(monkeypatch):
    """The reindex reads the row, a live write commits a newer vector and syncs it, then the
    reindex writes what it read: its recheck must put the newer vector back."""
    from vectra_django.management.commands import vectra_reindex

    doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    original = vectra_reindex.write_batch

    def live_write_first(*args, **kwargs):
        def write():
            try:
                RemoteDocument.objects.filter(pk=doc.pk).update(embedding=[0, 0, 1])
            finally:
                connections.close_all()

        thread = threading.Thread(target=write)
        thread.start()
        thread.join()
        assert stored()[doc.vector_id].values == [0.0, 0.0, 1.0]  # the live sync landed
        return original(*args, **kwargs)  # now the reindex's older vector

    monkeypatch.setattr(vectra_reindex, "write_batch", live_write_first)
    reindex("testapp.RemoteDocument", workers=0)
    assert stored()[doc.vector_id].values == [0.0, 0.0, 1.0]


@committed
def test_2_a_row_deleted_during_a_reindex_leaves_no_ghost(monkeypatch):
    from vectra_django.management.commands import vectra_reindex

    doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    original = vectra_reindex.write_batch

    def delete_first(*args, **kwargs):
        thread = threading.Thread(
            target=lambda: (
                RemoteDocument.objects.filter(pk=doc.pk).delete(),
                connections.close_all(),
            )
        )
        thread.start()
        thread.join()
        return original(*args, **kwargs)

    monkeypatch.setattr(vectra_reindex, "write_batch", delete_first)
    reindex("testapp.RemoteDocument", keep_extra=True)  # the recheck alone must catch it
    assert doc.vector_id not in stored()


@committed
def test_5_a_metadata_key_nulled_without_signals_is_found_and_repaired(remote_store):
    from tests.testapp.models import Author

    author = Author.objects.create(name="a")
    post = Post.objects.create(slug="p", title="t", author=author, embedding=[1, 0, 0])
    with connection.cursor() as cursor:  # what DB_SET_NULL does: no signal, no entry
        cursor.execute("UPDATE testapp_post SET author_id = NULL")
    with pytest.raises(CommandError, match=r"testapp\.Post"):
        reindex("testapp.Post", check=True)
    reindex("testapp.Post")
    assert "author" not in stored(Post)[post.vector_id].metadata
    reindex("testapp.Post", check=True)
