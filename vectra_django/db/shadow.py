"""A re-embed that searches never see half done: new vectors fill a shadow column, then one
transaction swaps it in.

While the shadow column fills, the old vectors keep serving every search, and the
application keeps writing (with the embedder it is configured with). Each shadow value
is stamped with the id of the transaction that wrote it, which is then the row's ``xmin``;
a row written again since has another ``xmin``, so it is embedded again. The switch
locks out writers (searches go on), embeds what is still stale, and renames the shadow
column, with its own copies of the vector indexes (built concurrently beforehand), into
the field's place; the old column and its indexes are dropped. It commits all at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.db import connections, transaction

from ..errors import ValidationError
from .reembed import Plan

SUFFIX = "_reembed"
STAMP = "_reembed_xid"
MAX_IDENTIFIER = 63


def check(plan: Plan) -> None:
    """Only a field searched in place has a column that searches read: refuse others."""
    if not plan.vf.is_inline(plan.using):
        raise ValidationError(
            f"--shadow switches the column that searches read, and {plan.vf.label} is "
            "synced to a store: re-embed it without --shadow (the store follows through "
            "the outbox), or point the field at a new index= and run vectra_reindex."
        )


def _names(plan: Plan) -> tuple[str, str, str, str]:
    connection = connections[plan.using]
    quote = connection.ops.quote_name
    column = plan.vf.column
    return (
        quote(plan.vf.model._meta.db_table),
        quote(column),
        quote(column + SUFFIX),
        quote(column + STAMP),
    )


def prepare(plan: Plan) -> None:
    """Add the shadow column and its stamp (kept by a resumed run)."""
    table, _, shadow, stamp = _names(plan)
    kind = plan.vf.db_type(connections[plan.using])
    with connections[plan.using].cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {shadow} {kind}, "
            f"ADD COLUMN IF NOT EXISTS {stamp} xid"
        )


def write(plan: Plan, rows: list[Any], vectors: list[Any]) -> None:
    """Store a batch's new vectors in the shadow column, stamped with this transaction."""
    table, _, shadow, stamp = _names(plan)
    pk = connections[plan.using].ops.quote_name(plan.vf.model._meta.pk.column)
    kind = plan.vf.db_type(connections[plan.using])
    prepare_value = plan.vf.get_prep_value
    with connections[plan.using].cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {shadow} = %s::{kind}, "  # noqa: S608 - quoted names
            f"{stamp} = pg_current_xact_id()::xid WHERE {pk} = %s",
            [(prepare_value(v), row.pk) for row, v in zip(rows, vectors, strict=True)],
        )


def stale(plan: Plan, limit: int) -> list[Any]:
    """Primary keys whose shadow is missing or older than the row (written again since)."""
    table, _, _, stamp = _names(plan)
    pk = connections[plan.using].ops.quote_name(plan.vf.model._meta.pk.column)
    with connections[plan.using].cursor() as cursor:
        cursor.execute(
            f"SELECT {pk} FROM {table} WHERE {stamp} IS NULL OR {stamp} <> xmin "  # noqa: S608
            f"ORDER BY {pk} LIMIT %s",
            [limit],
        )
        return [row[0] for row in cursor.fetchall()]


def catch_up(plan: Plan, embed: Callable[[list[Any]], None], batch_size: int) -> int:
    """Embed stale rows until none is left (or a few rounds pass); returns how many."""
    done = 0
    for _ in range(20):
        pks = stale(plan, batch_size)
        if not pks:
            break
        with transaction.atomic(using=plan.using):
            embed(pks)
        done += len(pks)
    return done


def vector_indexes(plan: Plan) -> list[tuple[str, str]]:
    """(name, definition) of the table's indexes on the field's column (not the key's)."""
    column = plan.vf.column
    word = re.compile(rf'(?<![\w"])"?{re.escape(column)}"?(?![\w"])')
    with connections[plan.using].cursor() as cursor:
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary ORDER BY i.relname",
            [_names(plan)[0]],
        )
        return [
            (name, ddl) for name, ddl in cursor.fetchall() if word.search(ddl.split(" USING ")[-1])
        ]


def shadow_index_name(name: str) -> str:
    return (name[: MAX_IDENTIFIER - len(SUFFIX)] + SUFFIX)[:MAX_IDENTIFIER]


def build_indexes(plan: Plan) -> list[tuple[str, str]]:
    """Copies of the column's vector indexes on the shadow column, built concurrently when
    no transaction is open (searches and writes go on meanwhile). Returns (old, new) names."""
    connection = connections[plan.using]
    quote = connection.ops.quote_name
    column = plan.vf.column
    word = re.compile(rf'(?<![\w"])"?{re.escape(column)}"?(?![\w"])')
    built = []
    for name, ddl in vector_indexes(plan):
        new = shadow_index_name(name)
        head, _, using = ddl.partition(" USING ")
        head = head.replace(f"INDEX {quote(name)} ", f"INDEX IF NOT EXISTS {quote(new)} ", 1)
        head = head.replace(f"INDEX {name} ", f"INDEX IF NOT EXISTS {quote(new)} ", 1)
        if not connection.in_atomic_block:
            head = head.replace("CREATE INDEX ", "CREATE INDEX CONCURRENTLY ", 1)
        statement = head + " USING " + word.sub(quote(column + SUFFIX), using)
        with connection.cursor() as cursor:
            cursor.execute(statement)
        built.append((name, new))
    return built


def switch(
    plan: Plan,
    embed: Callable[[list[Any]], None],
    batch_size: int,
    switched: Callable[[], None],
) -> int:
    """Swap the shadow column in, in one transaction that also runs ``switched`` (the
    record's update); returns the rows embedded under the lock."""
    table, column, shadow, stamp = _names(plan)
    quote = connections[plan.using].ops.quote_name
    previous = quote(plan.vf.column + "_previous")
    indexes = build_indexes(plan)
    with transaction.atomic(using=plan.using), connections[plan.using].cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")  # writers wait
        done = catch_up(plan, embed, batch_size)
        cursor.execute(f"ALTER TABLE {table} RENAME COLUMN {column} TO {previous}")
        cursor.execute(f"ALTER TABLE {table} RENAME COLUMN {shadow} TO {column}")
        cursor.execute(f"ALTER TABLE {table} DROP COLUMN {previous}, DROP COLUMN {stamp}")
        if not plan.vf.null:
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL")
        for old, new in indexes:
            cursor.execute(f"ALTER INDEX {quote(new)} RENAME TO {quote(old)}")
        switched()
    return done
