"""Where the pgvector provider's connections come from, and one operation's transaction.

A source lends a psycopg connection inside a transaction: :class:`PoolSource` from its own
``psycopg_pool`` pool (``URL``), :class:`DjangoSource` from a ``DATABASES`` alias, inside
``transaction.atomic`` so a caller's transaction is joined with a savepoint. ``django.db`` is
imported inside methods only: the client layer must not need the ORM at import time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg
import psycopg_pool
from psycopg import sql
from psycopg.types.json import JsonbBinaryLoader, JsonbLoader

from ... import errors
from ...errors import ConfigurationError
from ...postgres import register
from . import sql as queries


class PoolSource:
    """Connections from a pool opened on first use; each is checked before it is lent."""

    def __init__(self, url: str, pool_size: int, pool_timeout: float) -> None:
        try:
            info = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.Error:
            raise ConfigurationError("The pgvector URL is not a valid PostgreSQL URL.") from None
        self._url = url
        self.secret: str | None = info.get("password") or None
        self.target = f"host={info.get('host', '')!r} dbname={info.get('dbname', '')!r}"
        self.pool_size = max(1, int(pool_size))
        self.pool_timeout = float(pool_timeout)
        self._pool: psycopg_pool.ConnectionPool | None = None
        self._lock = threading.Lock()

    def pool(self) -> psycopg_pool.ConnectionPool:
        with self._lock:
            if self._pool is None:
                pool = psycopg_pool.ConnectionPool(
                    self._url,
                    min_size=1,
                    max_size=self.pool_size,
                    timeout=self.pool_timeout,
                    open=False,
                    kwargs={"autocommit": True},
                    configure=register,
                    check=psycopg_pool.ConnectionPool.check_connection,
                    name="vectra-pgvector",
                )
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    def in_transaction(self) -> bool:
        return False

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self.pool().connection() as conn, conn.transaction():
            yield conn

    def on_retry(self, exc: BaseException) -> None:
        """Nothing to do: a dead connection fails the pool's check and is replaced."""

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
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        from django.db import connections, transaction

        with transaction.atomic(using=self.alias):
            yield connections[self.alias].connection

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
        cur = self.conn.cursor()
        # Django loads jsonb as text (its JSONField decodes it); we want dicts.
        cur.adapters.register_loader("jsonb", JsonbLoader)
        cur.adapters.register_loader("jsonb", JsonbBinaryLoader)
        return cur.execute(query, params)

    def configure(self, settings: Mapping[str, str]) -> None:
        if self.nested:
            names = [name for name in settings if name not in self._previous]
            if names:
                reads = sql.SQL(", ").join(sql.SQL("current_setting(%s, true)") for _ in names)
                row = self.execute(sql.SQL("SELECT {}").format(reads), names).fetchone()
                self._previous.update(zip(names, row or (), strict=True))
        self.execute(*queries.set_config(settings))

    def restore(self) -> None:
        previous = {name: value for name, value in self._previous.items() if value is not None}
        if previous:
            self.execute(*queries.set_config(previous))
