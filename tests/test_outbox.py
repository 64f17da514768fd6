"""The sync outbox on real PostgreSQL: every write path records, drains read current state,
crashes and store failures lose nothing, and concurrent writers end with the newest vector.

The numbers in the test names refer to the cases the outbox was built to get right.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import django
import django.db.models
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction

from tests import remote_stores
from tests.testapp.models import (
    Author,
    Document,
    Place,
    Post,
    RemoteDocument,
    Restaurant,
    UUIDDocument,
)
from tests.testapp.providers import HookedMemoryProvider
from vectra_django import clients
from vectra_django.db.sync import drain
from vectra_django.errors import ConfigurationError
from vectra_django.models import SyncEntry

committed = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def hooked(settings):
    """The synced test models' alias on a memory store whose writes can be intercepted."""
    settings.VECTRA = {
        **settings.VECTRA,
        remote_stores.ALIAS: {
            "PROVIDER": "tests.testapp.providers.HookedMemoryProvider",
            "MAX_RETRIES": 0,
        },
    }
    settings.VECTRA_OUTBOX = {"RETRY_DELAY": 0, "RECOVER_AFTER": 0}
    clients.reset()
    yield
    HookedMemoryProvider.before_write = None
    clients.reset()


def stored(model=RemoteDocument):
    return remote_stores.stored(model)


def fail_writes(operation, ids):
    raise ConnectionError("store unreachable")


# -- 1. a crash between COMMIT and the sync ------------------------------------------------------


def run_child(*args: str, sync: str = "on_commit") -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "VECTRA_CHILD_DB": json.dumps(connection.settings_dict, default=str),
        "VECTRA_CHILD_SYNC": sync,
    }
    return subprocess.run(
        [sys.executable, "-m", "tests.outbox_child", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@committed
@pytest.mark.parametrize("sync", ["on_commit", "task"])
def test_1_write_of_a_process_killed_after_commit_is_synced_by_the_next_drain(sync, settings):
    settings.VECTRA_SYNC = sync
    child = run_child("create", "orphan", sync=sync)
    assert child.returncode == -9, child.stderr  # SIGKILL, right after the commit
    orphan = RemoteDocument.objects.get(title="orphan")
    assert SyncEntry.objects.filter(object_pk=str(orphan.pk)).exists()
    assert stored() == {}
    # Any later commit's drain takes over entries older than RECOVER_AFTER: no operator.
    other = RemoteDocument.objects.create(title="other", embedding=[1, 0, 0])
    assert sorted(stored()) == sorted([orphan.vector_id, other.vector_id])
    assert stored()[orphan.vector_id].values == [0.0, 0.0, 1.0]
    assert not SyncEntry.objects.exists()


@committed
@pytest.mark.parametrize("sync", ["on_commit", "task"])
def test_1_delete_of_a_process_killed_after_commit_leaves_no_ghost(sync, settings):
    settings.VECTRA_SYNC = sync
    doc = RemoteDocument.objects.create(title="doomed", embedding=[1, 0, 0])
    assert doc.vector_id in stored()
    child = run_child("delete", str(doc.pk), sync=sync)
    assert child.returncode == -9, child.stderr
    assert not RemoteDocument.objects.filter(pk=doc.pk).exists()
    assert doc.vector_id in stored()  # the ghost, until a drain runs
    drain("default", recover_after=0, until_empty=True)
    assert doc.vector_id not in stored()


@committed
def test_1_entries_younger_than_recover_after_are_left_to_their_owner(settings):
    settings.VECTRA_OUTBOX = {"RECOVER_AFTER": 3600}
    child = run_child("create", "recent")
    assert child.returncode == -9, child.stderr
    RemoteDocument.objects.create(title="other", embedding=[1, 0, 0])
    assert SyncEntry.objects.count() == 1  # not yet anyone else's business
    call_command("vectra_sync", verbosity=0)  # the worker takes every due entry
    assert not SyncEntry.objects.exists()
    assert len(stored()) == 2


@committed
def test_1_vectra_sync_worker_drains_until_stopped():
    with transaction.atomic():
        HookedMemoryProvider.before_write = fail_writes
        RemoteDocument.objects.create(title="queued", embedding=[1, 0, 0])
    HookedMemoryProvider.before_write = None
    assert SyncEntry.objects.count() == 1
    env = {
        **os.environ,
        "VECTRA_CHILD_DB": json.dumps(connection.settings_dict, default=str),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.outbox_child", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while SyncEntry.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not SyncEntry.objects.exists()
    finally:
        worker.terminate()
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "Synced 1 entry" in out and "Stopped." in out


# -- 2. concurrent writers of one row -------------------------------------------------------------


@committed
def test_2_racing_select_for_update_transactions_end_with_the_committed_vector():
    """A's sync is held in the store until B has committed a newer vector; B's sync must
    wait for A's (the row lock), re-read, and land last."""
    doc = RemoteDocument.objects.create(title="raced", embedding=[1, 0, 0])
    b_committed = threading.Event()
    a_writing = threading.Event()

    def hold_first_write(operation, ids):
        if threading.current_thread().name == "A" and not a_writing.is_set():
            a_writing.set()
            b_committed.wait(timeout=10)
            time.sleep(0.3)  # B's sync, if not held back, would run now

    HookedMemoryProvider.before_write = hold_first_write

    def write(values, after=None):
        try:
            if after is not None:
                after.wait(timeout=10)
            with transaction.atomic():
                row = RemoteDocument.objects.select_for_update().get(pk=doc.pk)
                if threading.current_thread().name == "B":
                    transaction.on_commit(b_committed.set)  # before B's own sync starts
                row.embedding = values
                row.save()
        finally:
            connections.close_all()

    a = threading.Thread(target=write, args=([0, 1, 0],), name="A")
    b = threading.Thread(target=write, args=([0, 0, 1], a_writing), name="B")
    a.start()
    b.start()
    a.join(timeout=30)
    b.join(timeout=30)
    assert RemoteDocument.objects.get(pk=doc.pk).embedding == [0, 0, 1]
    assert stored()[doc.vector_id].values == [0.0, 0.0, 1.0]


# -- 3, 4. what is synced is the stored row, not the instance -------------------------------------


@committed
def test_3_bulk_create_ignore_conflicts_syncs_new_rows_and_keeps_conflicting_ones():
    kept = Post.objects.create(slug="kept", title="original", embedding=[1, 0, 0])
    Post.objects.bulk_create(
        [
            Post(slug="kept", title="ignored", embedding=[0, 1, 0]),
            Post(slug="new", title="new", embedding=[0, 0, 1]),
        ],
        ignore_conflicts=True,
    )
    vectors = stored(Post)
    new = Post.objects.get(slug="new")
    assert vectors[kept.vector_id].values == [1.0, 0.0, 0.0]
    assert vectors[kept.vector_id].metadata["title"] == "original"
    assert vectors[new.vector_id].values == [0.0, 0.0, 1.0]


@committed
def test_3_bulk_create_ignore_conflicts_without_unique_fields_finds_the_new_rows():
    RemoteDocument.objects.bulk_create(
        [RemoteDocument(title=str(i), embedding=[1, i, 0]) for i in range(3)],
        ignore_conflicts=True,
    )
    assert sorted(stored()) == sorted(d.vector_id for d in RemoteDocument.objects.all())
    UUIDDocument.objects.bulk_create(
        [UUIDDocument(title="u", embedding=[1, 2])], ignore_conflicts=True
    )
    assert len(stored(UUIDDocument)) == 1


@committed
def test_3_update_conflicts_syncs_only_the_columns_it_updated():
    post = Post.objects.create(slug="p", title="old", embedding=[1, 0, 0])
    Post.objects.bulk_create(
        [Post(slug="p", title="renamed", embedding=[0, 1, 0])],
        update_conflicts=True,
        unique_fields=["slug"],
        update_fields=["title"],
    )
    vector = stored(Post)[post.vector_id]
    assert vector.values == [1.0, 0.0, 0.0]  # the unsaved vector never reached the table
    assert vector.metadata["title"] == "renamed"


@committed
def test_4_update_fields_without_the_vector_syncs_the_stored_vector():
    post = Post.objects.create(slug="p", title="old", embedding=[1, 0, 0])
    post.embedding = [0, 1, 0]  # changed in memory, not saved
    post.title = "new"
    post.save(update_fields=["title"])
    vector = stored(Post)[post.vector_id]
    assert (vector.values, vector.metadata["title"]) == ([1.0, 0.0, 0.0], "new")


@committed
def test_4_bulk_update_of_metadata_syncs_the_stored_vector():
    posts = [Post.objects.create(slug=f"p{i}", title="old", embedding=[1, 0, 0]) for i in range(2)]
    for post in posts:
        post.embedding = [0, 0, 1]
        post.title = "new"
    Post.objects.bulk_update(posts, ["title"])
    vectors = stored(Post)
    assert all(
        v.values == [1.0, 0.0, 0.0] and v.metadata["title"] == "new" for v in vectors.values()
    )


# -- 5. writes that bypass save() -----------------------------------------------------------------


@committed
def test_5_set_null_cascade_clears_the_metadata_in_the_store():
    author = Author.objects.create(name="ann")
    post = Post.objects.create(slug="p", title="t", author=author, embedding=[1, 0, 0])
    assert stored(Post)[post.vector_id].metadata["author"] == author.pk
    author.delete()
    assert "author" not in stored(Post)[post.vector_id].metadata


@committed
def test_5_set_null_cascade_of_a_queryset_delete():
    authors = [Author.objects.create(name=str(i)) for i in range(3)]
    posts = [
        Post.objects.create(slug=f"p{i}", title="t", author=a, embedding=[1, 0, 0])
        for i, a in enumerate(authors)
    ]
    Author.objects.filter(pk__in=[a.pk for a in authors[:2]]).delete()
    vectors = stored(Post)
    assert [("author" in vectors[p.vector_id].metadata) for p in posts] == [False, False, True]


@committed
def test_5_queryset_update_of_a_metadata_foreign_key():
    author = Author.objects.create(name="ann")
    post = Post.objects.create(slug="p", title="t", embedding=[1, 0, 0])
    Post.objects.filter(pk=post.pk).update(author=author)
    assert stored(Post)[post.vector_id].metadata["author"] == author.pk


needs_db_on_delete = pytest.mark.skipif(
    not hasattr(django.db.models, "DB_SET_NULL"), reason="DB_SET_NULL/DB_CASCADE: Django 6.1+"
)


@committed
@needs_db_on_delete
def test_5_db_set_null_of_an_orm_delete_clears_the_metadata_in_the_store():
    from tests.testapp.models import Review

    author = Author.objects.create(name="ann")
    review = Review.objects.create(author=author, embedding=[1, 0, 0])
    assert stored(Review)[review.vector_id].metadata == {"author": author.pk}
    author.delete()  # the database nulls review.author_id; no signal fires for the review
    assert stored(Review)[review.vector_id].metadata == {}


@committed
@needs_db_on_delete
def test_5_db_cascade_of_an_orm_delete_leaves_no_ghost():
    from tests.testapp.models import Review

    owner = Author.objects.create(name="own")
    review = Review.objects.create(owner=owner, embedding=[1, 0, 0])
    owner.delete()  # the database deletes the review; no signal fires for it
    assert review.vector_id not in stored(Review)


@committed
@needs_db_on_delete
def test_5_db_cascade_of_raw_sql_is_caught_by_the_drift_check_and_repaired():
    from tests.testapp.models import Review

    owner = Author.objects.create(name="own")
    review = Review.objects.create(owner=owner, embedding=[1, 0, 0])
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM testapp_author")  # cascades to testapp_review, silently
    with pytest.raises(CommandError, match=r"testapp\.Review"):
        call_command("vectra_reindex", "testapp.Review", "--check", verbosity=0)
    call_command("vectra_reindex", "testapp.Review", verbosity=0)
    assert review.vector_id not in stored(Review)


# -- 6, 7, 10. failures --------------------------------------------------------------------------


@committed
def test_6_a_failing_sync_drops_no_other_commit_callback(caplog):
    ran = []
    HookedMemoryProvider.before_write = fail_writes
    with transaction.atomic():
        RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
        transaction.on_commit(lambda: ran.append("plain"))
        transaction.on_commit(lambda: ran.append("robust"), robust=True)
    assert ran == ["plain", "robust"]
    assert SyncEntry.objects.get().attempts == 1
    assert "manage.py vectra_sync" in caplog.text  # 7: a command that really repairs


@committed
def test_10_entries_are_retried_with_backoff_then_parked_and_redriven(settings):
    settings.VECTRA_OUTBOX = {"RETRY_DELAY": 3600, "MAX_ATTEMPTS": 2, "RECOVER_AFTER": 0}
    HookedMemoryProvider.before_write = fail_writes
    doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    entry = SyncEntry.objects.get()
    assert (entry.attempts, entry.parked) == (1, False)
    assert entry.available_at > entry.created_at  # waiting for its retry
    assert drain("default", recover_after=0, until_empty=True).entries == 0  # not due yet
    SyncEntry.objects.update(available_at=entry.created_at)
    result = drain("default", recover_after=0, until_empty=True)
    assert result.failed == 1
    entry.refresh_from_db()
    assert (entry.attempts, entry.parked) == (2, True)
    assert "store unreachable" in entry.last_error
    HookedMemoryProvider.before_write = None
    SyncEntry.objects.update(available_at=entry.created_at)
    call_command("vectra_sync", verbosity=0)
    assert SyncEntry.objects.filter(parked=True).count() == 1  # parked: only on demand
    out = _command("vectra_sync", "--list")
    assert "1 parked" in out and "store unreachable" in out
    _command("vectra_sync", "--retry-parked")
    assert not SyncEntry.objects.exists()
    assert doc.vector_id in stored()


@committed
def test_10_task_mode_with_the_store_down_retries(settings):
    settings.VECTRA_SYNC = "task"
    HookedMemoryProvider.before_write = fail_writes
    with transaction.atomic():
        doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    assert SyncEntry.objects.get().attempts == 1
    HookedMemoryProvider.before_write = None
    with pytest.raises(CommandError):
        _command("vectra_sync", "--list", "--retry-parked")
    call_command("vectra_sync", verbosity=0)
    assert doc.vector_id in stored()


@committed
@pytest.mark.parametrize("sync", ["on_commit", "task", "immediate"])
def test_10_manual_savepoint_rollback_syncs_nothing(sync, settings):
    settings.VECTRA_SYNC = sync
    with transaction.atomic():
        kept = RemoteDocument.objects.create(title="kept", embedding=[1, 0, 0])
        create = getattr(transaction, "savepoint_create", None) or transaction.savepoint  # 6.1
        sid = create()
        RemoteDocument.objects.create(title="lost", embedding=[0, 1, 0])
        transaction.savepoint_rollback(sid)
    if sync == "immediate":  # documented: written at once, rolled back or not
        return
    assert list(stored()) == [kept.vector_id]


@committed
def test_failed_vectra_sync_exits_non_zero_and_keeps_the_entry():
    HookedMemoryProvider.before_write = fail_writes
    RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    SyncEntry.objects.update(available_at=SyncEntry.objects.get().created_at)
    with pytest.raises(CommandError, match="store unreachable"):
        _command("vectra_sync")
    assert SyncEntry.objects.get().attempts == 2


# -- 8. multi-table inheritance -------------------------------------------------------------------


@committed
def test_8_child_rows_sync_under_the_parents_ids():
    restaurant = Restaurant.objects.create(name="r", stars=3, embedding=[1, 0, 0])
    vid = f"testapp_place_{restaurant.pk}"
    assert stored(Place)[vid].metadata == {"name": "r"}
    Restaurant.objects.filter(pk=restaurant.pk).update(stars=4)  # not synced: no entry
    assert not SyncEntry.objects.exists()
    restaurant.delete()
    assert stored(Place) == {}


# -- the strategies and the drain ----------------------------------------------------------------


@committed
def test_one_store_call_per_drained_batch(settings):
    settings.VECTRA_OUTBOX = {"BATCH_SIZE": 4, "RECOVER_AFTER": 0}
    writes = []
    HookedMemoryProvider.before_write = lambda operation, ids: writes.append(len(ids))
    RemoteDocument.objects.bulk_create(
        [RemoteDocument(title=str(i), embedding=[1, i, 0]) for i in range(10)]
    )
    assert writes == [4, 4, 2]
    assert len(stored()) == 10


@committed
def test_immediate_sync_reads_the_rows_inside_the_transaction(settings):
    settings.VECTRA_SYNC = "immediate"
    with transaction.atomic():
        doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
        assert doc.vector_id in stored()
        assert not SyncEntry.objects.exists()
        doc.delete()
        assert stored() == {}


@committed
def test_in_place_fields_record_nothing():
    Document.objects.create(title="a", embedding=[1, 0, 0])
    Document.objects.update(title="b")
    Document.objects.all().delete()
    assert not SyncEntry.objects.exists()


@committed
def test_entries_of_a_model_no_longer_known_are_dropped(caplog):
    SyncEntry.objects.create(model="gone.Model", object_pk="1", op="upsert")
    assert drain("default", recover_after=0, until_empty=True).entries == 1
    assert not SyncEntry.objects.exists()
    assert "no such model" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1], "must be a dict"),
        ({"BATCH": 1}, "unknown key"),
        ({"BATCH_SIZE": 0}, "positive integer"),
        ({"RETRY_DELAY": -1}, "seconds"),
        ({"MAX_ATTEMPTS": True}, "positive integer"),
    ],
)
def test_bad_outbox_settings_are_configuration_errors(settings, value, message):
    settings.VECTRA_OUTBOX = value
    with pytest.raises(ConfigurationError, match=message):
        drain("default")


# -- vectra_sync input -----------------------------------------------------------------------------


def _command(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchapp"], "Unknown model or app"),
        (["testapp.Nope"], "Unknown model or app"),
        (["testapp.Document"], "no vector field synced"),
        (["--list", "--forever"], "cannot be combined with --forever"),
        (["--interval", "0"], "--interval"),
        (["--database", "nope"], "Unknown database"),
    ],
)
def test_vectra_sync_bad_input(args, message):
    SyncEntry.objects.create(model="testapp.RemoteDocument", object_pk="1", op="upsert")
    with pytest.raises(CommandError, match=message):
        _command("vectra_sync", *args)
    assert SyncEntry.objects.count() == 1  # nothing drained


@committed
def test_vectra_sync_drains_only_the_models_named():
    HookedMemoryProvider.before_write = fail_writes
    doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    post = Post.objects.create(slug="p", title="t", embedding=[1, 0, 0])
    HookedMemoryProvider.before_write = None
    SyncEntry.objects.update(available_at=SyncEntry.objects.first().created_at)
    assert "Synced 1 entry" in _command("vectra_sync", "testapp.Post")
    assert post.vector_id in stored(Post) and doc.vector_id not in stored()
    assert "The outbox" in _command("vectra_sync", "--list") or SyncEntry.objects.count() == 1
