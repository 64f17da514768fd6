"""Bulk loads: many batches in one transaction, the vector index built after the rows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from psycopg import sql

from ...client.validation import Batch
from ...postgres import builds
from .connection import Tx
from .writes import clear, write

if TYPE_CHECKING:
    from .provider import PgvectorProvider


class BulkLoads:
    """``bulk_load`` for :class:`~.provider.PgvectorProvider`."""

    def bulk_load(
        self: PgvectorProvider,
        index: str,
        batches: Iterable[Batch],
        namespace: str,
        *,
        rows: int | None = None,
        replace: bool = False,
        exclusive: bool = False,
        on_progress: builds.ProgressCallback | None = None,
    ) -> int:
        """Upsert ``batches`` in one transaction, building the vector index afterwards when
        the load (``rows``, if known) is large next to what the table holds.

        ``replace`` first deletes the namespace's vectors (in the same transaction: searches
        see the old vectors until the new ones are committed). ``exclusive`` keeps other
        writers out until commit, so that rows read for the load after this call began
        cannot overwrite a newer write (``vectra_reindex`` relies on it); a deferred build
        keeps everyone out anyway. Returns the number of vectors written.
        """
        defer = (
            rows is not None
            and builds.worth_deferring(rows, 0, self._build)
            and builds.worth_deferring(
                rows, self._stored(index, namespace, rows, replace), self._build
            )
        )
        with self._session(index) as tx:
            table = self._table(tx, index)
            if exclusive:  # before anything else (a deferred build then takes a stronger one)
                tx.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(table.ident))
            with contextlib.ExitStack() as stack:
                if defer:
                    stack.enter_context(
                        builds.deferred(
                            tx.conn,
                            table.ident,
                            self._build,
                            methods=(*builds.VECTOR_METHODS, "gin"),
                            on_progress=on_progress,
                            watch=self._source.side_connection,
                        )
                    )
                if replace:
                    clear(tx, table, namespace)
                    self._replacing.pop((index, namespace), None)
                written = 0
                for batch in batches:
                    table = self._with_text(tx, table, batch)
                    written += write(tx, table, batch, namespace, self._replacing)
        return written

    def _stored(
        self: PgvectorProvider, index: str, namespace: str, rows: int, replace: bool
    ) -> int:
        """How many vectors stay in the table (its other namespaces, when replacing), counted
        no further than the decision needs. Outside the load's transaction when it can be:
        two loads that both counted inside theirs would deadlock on their table locks."""
        limit = rows * builds.STORED_PER_LOADED + 1
        kept = (sql.SQL("namespace <> %s"), [namespace]) if replace else None
        if self._source.in_transaction():
            with self._session(index) as tx:
                return builds.count_upto(tx.conn, self._table(tx, index).ident, limit, kept)
        with self._reading(index) as conn:
            table = self._table(Tx(conn, nested=False), index)
            return builds.count_upto(conn, table.ident, limit, kept)
