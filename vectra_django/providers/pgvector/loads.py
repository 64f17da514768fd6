"""Bulk loads: many batches in one transaction, the vector index built after the rows."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from psycopg import sql

from ...client.validation import Batch
from ...postgres import builds
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
        with self._session(index) as tx:
            table = self._table(tx, index)
            stored_where = (sql.SQL("namespace <> %s"), [namespace]) if replace else None
            defer = rows is not None and builds.worth_deferring(
                rows,
                builds.count_upto(
                    tx.conn, table.ident, rows * builds.STORED_PER_LOADED + 1, stored_where
                ),
                self._build,
            )
            if exclusive and not defer:
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
                    written += write(tx, table, batch, namespace, self._replacing)
        return written
