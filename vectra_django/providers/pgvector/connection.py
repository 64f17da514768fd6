"""Where the pgvector provider's connections come from, and one operation's transaction.

A source lends a psycopg connection inside a transaction: :class:`PoolSource` from its own
``psycopg_pool`` pool (``URL``), :class:`DjangoSource` from a ``DATABASES`` alias, inside
``transaction.atomic`` so a caller's transaction is joined with a savepoint. ``django.db`` is
imported inside methods only: the client layer must not need the ORM at import time.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg
import psycopg_pool
from psycopg import sql

from ... import errors
from ...errors import ConfigurationError
from ...postgres import register, set_config
from . import reads

# Seconds a pooled connection may sit idle and still be lent without a check.
CHECK_AFTER_IDLE = 5.0


class LifoPool(psycopg_pool.ConnectionPool):
    """A pool that lends the connection returned last (psycopg_pool lends the oldest).

    Its backend process is the one whose caches are warm, and under a light load the other
    connections stay idle long enough for the pool to shrink back to its minimum. Relies
    on the pool's idle connections being a deque, taken from the left under its lock; were
    that to change, the pool simply lends in its own order again.
    """

    def _get_ready_connection(self, timeout: float | None) -> Any:
        idle = getattr(self, "_pool", None)
        if isinstance(idle, collections.deque) and len(idle) > 1:
            idle.rotate(1)  # the most recently returned connection to the front
        return super()._get_ready_connection(timeout)


class PoolSource:
    """Connections from a pool opened on first use; each is checked before it is lent."""

    def __init__(
        self,
        url: str,
        pool_size: int,
        pool_timeout: float,
        session: Mapping[str, str] | None = None,
    ) -> None:
        try:
            info = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.Error:
            raise ConfigurationError("The pgvector URL is not a valid PostgreSQL URL.") from None
        self._url = url
        self.secret: str | None = info.get("password") or None
        self.target = f"host={info.get('host', '')!r} dbname={info.get('dbname', '')!r}"
        self.pool_size = max(1, int(pool_size))
        self.pool_timeout = float(pool_timeout)
        # Session settings of every pooled connection, so that most reads need none of their
        # own (see reads.py).
        self.session = dict(session or {})
        self._pool: psycopg_pool.ConnectionPool | None = None
        self._lock = threading.Lock()
        self._last_used: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    def pool(self) -> psycopg_pool.ConnectionPool:
        with self._lock:
            if self._pool is None:
                pool = LifoPool(
                    self._url,
                    min_size=1,
                    max_size=self.pool_size,
                    timeout=self.pool_timeout,
                    open=False,
                    kwargs={"autocommit": True},
                    configure=self._configure,
                    check=self._check,
                    name="vectra-pgvector",
                )
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """Check a connection idle for a while (a round trip) before lending it; one used
        moments ago is lent as it is, and should it be dead after all, the retry that
        follows the error checks the whole pool (:meth:`on_retry`)."""
        if time.monotonic() - self._last_used.get(conn, 0.0) > CHECK_AFTER_IDLE:
            psycopg_pool.ConnectionPool.check_connection(conn)

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        register(conn)
        reads.load_jsonb_as_dicts(conn)
        if self.session:
            conn.execute(*set_config(self.session, local=False))

    def in_transaction(self) -> bool:
        return False

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in autocommit mode, outside any transaction."""
        with self.pool().connection() as conn:
            yield conn
            self._last_used[conn] = time.monotonic()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self.pool().connection() as conn:
            with conn.transaction():
                yield conn
            self._last_used[conn] = time.monotonic()

    def side_connection(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        """Another session, for a thread that watches this one (see ``builds.deferred``)."""
        return self.connection()

    def on_retry(self, exc: BaseException) -> None:
        """After a lost connection, drop every broken connection the pool holds, so the
        retry gets a live one."""
        pool = self._pool
        if pool is not None and isinstance(exc, errors.ConnectionError):
            pool.check()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


class DjangoSource:
    """The connection of a Django ``DATABASES`` alias, joining the caller's transaction."""

    secret: str | None = None

    def __init__(self, alias: str) -> None:
        from django.db import connections

        if alias not in connections.settings:
            raise ConfigurationError(f"DATABASE {alias!r} is not in DATABASES.")
        if connections.settings[alias]["ENGINE"] != "django.db.backends.postgresql":
            raise ConfigurationError(f"DATABASE {alias!r} is not a PostgreSQL database.")
        self.alias = alias
        self.target = f"database={alias!r}"

    def in_transaction(self) -> bool:
        from django.db import connections

        return bool(connections[self.alias].in_atomic_block)

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """The alias's connection, in autocommit mode (only used outside transactions)."""
        from django.db import connections

        connection = connections[self.alias]
        connection.ensure_connection()
        yield connection.connection

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        from django.db import connections, transaction

        with transaction.atomic(using=self.alias):
            yield connections[self.alias].connection

    @contextlib.contextmanager
    def side_connection(self) -> Iterator[psycopg.Connection[Any]]:
        """Another session, for a thread that watches this one (see ``builds.deferred``):
        the alias's connection of the calling thread, closed afterwards."""
        from django.db import connections

        connection = connections[self.alias]
        try:
            connection.ensure_connection()
            yield connection.connection
        finally:
            connection.close()

    def on_retry(self, exc: BaseException) -> None:
        """Close a broken connection so the retry gets a fresh one (never mid-transaction)."""
        from django.db import connections

        connection = connections[self.alias]
        if isinstance(exc, errors.ConnectionError) and not connection.in_atomic_block:
            connection.close()

    def close(self) -> None:
        """Django owns the connection."""


class Tx:
    """A connection inside one operation's transaction, tracking its ``SET LOCAL`` values.

    Inside a caller's transaction a local setting would outlive our savepoint, so the
    previous values are put back when the operation succeeds.
    """

    def __init__(self, conn: psycopg.Connection[Any], nested: bool) -> None:
        self.conn = conn
        self.nested = nested
        self._previous: dict[str, str | None] = {}

    def execute(self, query: Any, params: Any = None) -> psycopg.Cursor[Any]:
        return reads.cursor(self.conn).execute(query, params)

    def configure(self, settings: Mapping[str, str]) -> None:
        if self.nested:
            names = [name for name in settings if name not in self._previous]
            if names:
                reads = sql.SQL(", ").join(sql.SQL("current_setting(%s, true)") for _ in names)
                row = self.execute(sql.SQL("SELECT {}").format(reads), names).fetchone()
                self._previous.update(zip(names, row or (), strict=True))
        self.execute(*set_config(settings))

    def restore(self) -> None:
        previous = {name: value for name, value in self._previous.items() if value is not None}
        if previous:
            self.execute(*set_config(previous))
