"""How upserts reach an index table: a multi-row INSERT for a few rows, binary COPY for many.

New ids are copied straight into the table; a batch that meets stored ids is copied into a
temporary table and merged with ``INSERT ... ON CONFLICT``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from ...client.validation import Batch
from ...errors import ValidationError
from . import sql as queries
from .connection import Tx, register
from .sql import Table

NUL_ESCAPE = b"\\u0000"  # how JSON writes the NUL character
# Below this many rows a multi-row INSERT (pipelined by executemany) beats a staging COPY.
COPY_THRESHOLD = 64


def write(
    tx: Tx, table: Table, batch: Batch, namespace: str, replacing: dict[tuple[str, str], bool]
) -> int:
    """Upsert one batch: a multi-row INSERT for a few rows, else COPY (see the module).

    ``replacing`` remembers, per (index, namespace), whether the last batch met stored ids.
    """
    if len(batch) < COPY_THRESHOLD:
        register(tx.conn)
        rows = [
            (namespace, vid, values, Jsonb(meta))
            for vid, values, meta in zip(batch.ids, batch.values, batch.metadata, strict=True)
        ]
        if table.text_config:
            texts = batch.texts or [None] * len(batch)
            rows = [(*row, text) for row, text in zip(rows, texts, strict=True)]
        with tx.conn.cursor() as cur:
            cur.executemany(queries.upsert_values(table), rows)
        return len(batch)
    # New ids are copied straight in (optimistically, on the first try); once a batch
    # met stored ids, later ones check first, so re-runs take the merge path at once.
    key = (table.name, namespace)
    if not replacing.get(key) or not any_exist(tx, table, batch.ids, namespace):
        if copy_new(tx, table, batch, namespace):
            replacing.pop(key, None)
            return len(batch)
        replacing[key] = True
    copy_upsert(tx, table, batch, namespace)
    return len(batch)


def any_exist(tx: Tx, table: Table, ids: list[str], namespace: str) -> bool:
    row = tx.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE namespace = %s AND id = ANY(%s))").format(
            table.ident
        ),
        [namespace, ids],
    ).fetchone()
    return bool(row and row[0])


def copy_new(tx: Tx, table: Table, batch: Batch, namespace: str) -> bool:
    """COPY straight into the index table: the fast path for ids not stored yet.

    Runs in a savepoint, so when one of the ids is stored already (or is written
    concurrently) only this attempt rolls back (``False``), at the first such row; the
    caller then takes the merge path.
    """
    tx.execute("SAVEPOINT vectra_copy")
    try:
        with tx.conn.cursor() as cur:
            statement = sql.SQL("COPY {} (namespace, {}) FROM STDIN (FORMAT BINARY)").format(
                table.ident, table.columns
            )
            with cur.copy(statement) as copy:
                for chunk in queries.copy_rows(
                    batch, table.halfvec, namespace, with_text=bool(table.text_config)
                ):
                    copy.write(chunk)
    except psycopg.errors.UniqueViolation:
        tx.execute("ROLLBACK TO SAVEPOINT vectra_copy")
        tx.execute("RELEASE SAVEPOINT vectra_copy")
        return False
    tx.execute("RELEASE SAVEPOINT vectra_copy")
    return True


def copy_upsert(tx: Tx, table: Table, batch: Batch, namespace: str) -> None:
    """COPY into a temporary table, then ``INSERT ... ON CONFLICT`` from it."""
    staging = sql.Identifier(f"vectra_stage_{uuid.uuid4().hex}")
    text = sql.SQL(", text text" if table.text_config else "")
    tx.execute(
        sql.SQL(
            "CREATE TEMP TABLE {} (id text, embedding {}, metadata jsonb{}) ON COMMIT DROP"
        ).format(staging, table.column_type, text)
    )
    with tx.conn.cursor() as cur:
        with cur.copy(sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(staging)) as copy:
            for chunk in queries.copy_rows(batch, table.halfvec, with_text=bool(table.text_config)):
                copy.write(chunk)
        cur.execute(queries.upsert_from(table, staging), [namespace])
        # Dropped now, not at commit: the caller's transaction may upsert again.
        cur.execute(sql.SQL("DROP TABLE {}").format(staging))


def check_jsonb(vid: str, metadata: Any) -> None:
    if has_nul(metadata):
        raise ValidationError(
            f"Vector {vid!r}: metadata contains the NUL character (\\x00), which PostgreSQL's "
            "jsonb cannot store."
        )


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def clear(tx: Tx, table: Table, namespace: str) -> None:
    """Delete every vector of ``namespace``: ``TRUNCATE`` when the table holds no other
    namespace (no dead rows left behind for the next index build to scan), else ``DELETE``."""
    others = tx.execute(
        sql.SQL(
            "SELECT EXISTS (SELECT 1 FROM {t} WHERE namespace < %s) "
            "OR EXISTS (SELECT 1 FROM {t} WHERE namespace > %s)"
        ).format(t=table.ident),
        [namespace, namespace],
    ).fetchone()
    if others and others[0]:
        tx.execute(sql.SQL("DELETE FROM {} WHERE namespace = %s").format(table.ident), [namespace])
    else:
        tx.execute(sql.SQL("TRUNCATE {}").format(table.ident))
