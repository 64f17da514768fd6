"""vectra_reindex into a pgvector store: a new or cleared index is filled by one bulk load."""

from __future__ import annotations

import itertools
import threading
import time
from io import StringIO
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import connections, transaction

from tests.contract.pgvector_providers import url_for_test_database
from tests.testapp.models import RemoteDocument
from vectra_django import clients
from vectra_django.db import loading
from vectra_django.postgres import builds

pytestmark = pytest.mark.django_db
INDEX = "remote-docs"


@pytest.fixture
def pgvector_store(request: pytest.FixtureRequest, settings: Any) -> Any:
    """The synced test models' alias on a pgvector table of the test database."""
    url = url_for_test_database(request)
    settings.VECTRA = {
        **settings.VECTRA,
        "memory": {"PROVIDER": "pgvector", "URL": url, "MAX_RETRIES": 0, "BUILD": {"MIN_ROWS": 10}},
    }
    clients.reset()
    yield url
    client = clients["memory"]
    if client.index_exists(INDEX):
        client.delete_index(INDEX)
    clients.reset()


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many indexes each deferred build dropped and built again."""
    seen: list[int] = []
    original = builds.deferred

    def spy(*args: Any, **kwargs: Any) -> Any:
        with original(*args, **kwargs) as dropped:
            seen.append(dropped)
            yield dropped

    import contextlib

    monkeypatch.setattr(builds, "deferred", contextlib.contextmanager(spy))
    return seen


def reindex(*args: str, **kwargs: Any) -> str:
    out = StringIO()
    call_command("vectra_reindex", *args, stdout=out, **kwargs)
    return out.getvalue()


def make_rows(count: int, start: int = 0) -> list[RemoteDocument]:
    return RemoteDocument.objects.bulk_create(
        RemoteDocument(title=str(i), status="published", embedding=[1, i, 0.5])
        for i in range(start, start + count)
    )


def uses_index(url: str) -> bool:
    table = clients["memory"].describe_index(INDEX)["table"]
    with psycopg.connect(url) as conn:
        conn.execute("SET enable_seqscan = off")
        rows = conn.execute(
            f'EXPLAIN SELECT id FROM "{table}" ORDER BY embedding <=> %s::vector LIMIT 3',
            ["[1,2,3]"],
        ).fetchall()
    return any("Index Scan" in row[0] for row in rows)


def test_a_first_reindex_loads_the_rows_then_builds_the_index(pgvector_store, built) -> None:
    rows = make_rows(40)
    output = reindex("testapp.RemoteDocument")
    assert "upserted 40, deleted 0" in output
    assert built == [3]  # the HNSW index and the metadata and text GIN indexes
    client = clients["memory"]
    assert client.stats(INDEX)["total_vector_count"] == 40
    stored = client.fetch(INDEX, [rows[3].vector_id])[rows[3].vector_id]
    assert stored.values == [1.0, 3.0, 0.5]
    assert stored.metadata == {"category": "", "status": "published"}
    assert uses_index(pgvector_store)


def test_clear_replaces_the_index_in_one_load(pgvector_store, built) -> None:
    make_rows(30)
    client = clients["memory"]
    client.create_index(INDEX, dimension=3)
    client.upsert(INDEX, ids=["ghost-1", "ghost-2"], values=[[1, 1, 1], [1, 2, 1]])
    output = reindex("testapp.RemoteDocument", clear=True, interactive=False)
    assert "upserted 30" in output
    assert built == [3]
    assert client.stats(INDEX)["total_vector_count"] == 30
    assert client.fetch(INDEX, ["ghost-1"]) == {}
    assert uses_index(pgvector_store)


def test_a_reindex_into_a_filled_index_writes_batch_by_batch(pgvector_store, built) -> None:
    make_rows(30)
    reindex("testapp.RemoteDocument")
    built.clear()
    make_rows(5, start=30)
    output = reindex("testapp.RemoteDocument")
    assert "upserted 35" in output
    assert built == []  # the live index took the writes
    assert clients["memory"].stats(INDEX)["total_vector_count"] == 35


def test_rows_without_vectors_are_left_out_of_the_load(pgvector_store) -> None:
    make_rows(12)
    RemoteDocument.objects.create(title="empty", embedding=None)
    output = reindex("testapp.RemoteDocument")
    assert "upserted 12, deleted 0" in output
    assert clients["memory"].stats(INDEX)["total_vector_count"] == 12


def test_the_build_phase_is_reported(pgvector_store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builds, "POLL_SECONDS", 0.001)
    RemoteDocument.objects.bulk_create(
        RemoteDocument(title=str(i), embedding=[1, (i * 7919) % 1000, i % 13]) for i in range(3000)
    )
    output = reindex("testapp.RemoteDocument")
    phases = [line.split(": ", 1)[1] for line in output.splitlines() if "index build:" in line]
    assert phases, output
    assert all(a != b for a, b in itertools.pairwise(phases))  # per phase, not per read


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("defer", [True, False])
def test_writes_synced_during_a_bulk_reindex_land_after_it(
    pgvector_store, settings: Any, monkeypatch: pytest.MonkeyPatch, defer: bool
) -> None:
    """A first reindex loads in one transaction while the app saves and deletes rows,
    some already read by the load, some not yet: each save's sync waits for the load and
    lands after it, so the store ends equal to the table, with nothing stale or lost."""
    settings.VECTRA["memory"]["BUILD"]["DEFER"] = defer  # False: the load's own lock alone
    clients.reset()
    rows = make_rows(200)
    early, late, gone = rows[3], rows[190], rows[5]  # read in the first batch, the last, first
    loaded: list[int] = []
    writers: list[threading.Thread] = []
    original = loading._batches

    def write_meanwhile() -> None:  # commits, then its sync waits for the load's lock
        with transaction.atomic():
            for doc, values in ((early, [9, 9, 9]), (late, [8, 8, 8])):
                doc.embedding = values
                doc.save()
            RemoteDocument.objects.get(pk=gone.pk).delete()
        connections.close_all()

    def batches(*args: Any, **kwargs: Any) -> Any:
        for number, batch in enumerate(original(*args, **kwargs)):
            loaded.append(len(batch.ids))
            if number == 0:  # the load holds its table lock and has read rows 0-19
                writer = threading.Thread(target=write_meanwhile)
                writers.append(writer)
                writer.start()
                wait_until(lambda: committed_delete(pgvector_store, gone.pk))
            yield batch

    monkeypatch.setattr(loading, "_batches", batches)
    clients["memory"].delete_index(INDEX)  # a first reindex: no stored row to lock
    reindex("testapp.RemoteDocument", batch_size=20)
    writers[0].join(timeout=30)
    assert not writers[0].is_alive()
    assert len(loaded) == 10 and sum(loaded) == 200  # the deleted row was read already
    store = clients["memory"]
    assert store.fetch(INDEX, [early.vector_id])[early.vector_id].values == [9.0, 9.0, 9.0]
    assert store.fetch(INDEX, [late.vector_id])[late.vector_id].values == [8.0, 8.0, 8.0]
    assert store.fetch(INDEX, [gone.vector_id]) == {}
    assert store.stats(INDEX)["total_vector_count"] == 199
    assert "199 vectors in the table, 0 missing, 0 stale, 0 ghosts" in reindex(
        "testapp.RemoteDocument", check=True
    )


def committed_delete(url: str, pk: int) -> bool:
    """Whether the row's delete is committed, as another session sees it."""
    with psycopg.connect(url) as conn:
        found = conn.execute(
            f'SELECT 1 FROM "{RemoteDocument._meta.db_table}" WHERE id = %s', [pk]
        ).fetchone()
    return found is None


def wait_until(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
