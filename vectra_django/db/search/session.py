"""Search settings applied wherever an in-place search's SQL runs.

An HNSW scan returns at most ``hnsw.ef_search`` rows (40 by default), a filtered one needs
pgvector's iterative scan to find ``limit`` rows that pass the filter, and a prepared
statement must not get a generic plan. Loading instances is only one way to run a search:
``values()``, ``count()``, ``exists()``, ``aggregate()``, ``iterator()``, a ``Paginator``
or a subquery in another query run the same SQL by other paths. So the settings travel with
the query vector (:attr:`QueryVector.options <.parameters.QueryVector>`), and an execute
wrapper, installed on every PostgreSQL connection, sets them (``SET LOCAL`` semantics) right
before any statement that binds such a vector, in a transaction of its own when there is
none. When the session's own settings already serve the search, the statement runs alone.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from ...postgres import pipelined_transaction, set_config
from .parameters import QueryVector, needs_settings

# pgvector's distance operators: a statement without one binds no search vector.
_OPERATORS = ("<=>", "<->", "<#>", "<+>", "<~>", "<%>")
# Set while the caller re-sorts the rows by distance itself: then the cheaper relaxed order
# of pgvector's iterative scan will do; anything else gets strict order.
_resorted: contextvars.ContextVar[bool] = contextvars.ContextVar("vectra_resorted", default=False)


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """What a search needs of the session: ``hnsw.ef_search`` of at least ``ef_search``.

    The iterative scan is always on: a filter, and the dead tuples of recent updates and
    deletes, would otherwise leave an HNSW scan with fewer rows than its ``LIMIT``.
    """

    ef_search: int


def install(connection: Any) -> None:
    """Put the wrapper on ``connection`` (a Django connection), once."""
    if connection.vendor == "postgresql" and _apply not in connection.execute_wrappers:
        connection.execute_wrappers.append(_apply)


def on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created`` receiver: every thread's connections get the wrapper."""
    install(connection)


@contextlib.contextmanager
def resorted() -> Iterator[None]:
    """Within the block, searches may return neighbours slightly out of order."""
    token = _resorted.set(True)
    try:
        yield
    finally:
        _resorted.reset(token)


def options_of(params: Any) -> SearchOptions | None:
    """The combined options of the search vectors among ``params``, if any."""
    values = params.values() if isinstance(params, Mapping) else params
    found = [p.options for p in values if type(p) is QueryVector and p.options is not None]
    return SearchOptions(max(o.ef_search for o in found)) if found else None


def settings_statement(options: SearchOptions, order: str) -> tuple[str, list[str]]:
    """One ``SELECT set_config(..., true), ...`` for ``options``. IVFFlat has no strict
    order: its results may come slightly out of order where nothing re-sorts them."""
    return set_config(
        {
            "hnsw.ef_search": str(options.ef_search),
            "plan_cache_mode": "force_custom_plan",
            "hnsw.iterative_scan": order,
            "ivfflat.iterative_scan": "relaxed_order",
        }
    )


def _apply(execute: Any, sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
    if many or not params or not isinstance(sql, str) or not any(op in sql for op in _OPERATORS):
        return execute(sql, params, many, context)
    options = options_of(params)
    connection = context["connection"]
    order = "relaxed_order" if _resorted.get() else "strict_order"
    if options is None or not needs_settings(connection, options.ef_search, order):
        return execute(sql, params, many, context)
    statement, args = settings_statement(options, order)
    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(statement, args)
        return execute(sql, params, many, context)
    if getattr(context["cursor"].cursor, "name", None):
        # A server-side cursor (iterator()): declared WITH HOLD outside transactions, so its
        # rows are computed, with these settings, before the commit.
        with transaction.atomic(using=connection.alias):
            with connection.cursor() as cursor:
                cursor.execute(statement, args)
            return execute(sql, params, many, context)
    return _pipelined(connection, statement, args, execute, sql, params, context)


def _pipelined(
    connection: Any,
    statement: str,
    args: list[str],
    execute: Any,
    sql: str,
    params: Any,
    context: Any,
) -> Any:
    """``BEGIN``, the settings, the query and ``COMMIT`` sent together: one round trip in
    autocommit mode instead of four. The query's rows stay on its cursor."""
    settings = connection.cursor()  # Django's, so query logs show the settings too
    with connection.wrap_database_errors:
        try:
            with pipelined_transaction(connection.connection):
                settings.execute(statement, args)
                return execute(sql, params, False, context)
        finally:
            settings.close()
