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

from ...client.validation import Batch
from ...errors import ValidationError
from . import sql as queries
from .connection import Tx
from .sql import Table

NUL_ESCAPE = b"\\u0000"  # how JSON writes the NUL character
# Below this many rows a multi-row INSERT (pipelined by executemany) beats a staging COPY.
COPY_THRESHOLD = 64


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
            statement = sql.SQL(
                "COPY {} (namespace, id, embedding, metadata) FROM STDIN (FORMAT BINARY)"
            ).format(table.ident)
            with cur.copy(statement) as copy:
                for chunk in queries.copy_rows(batch, table.halfvec, namespace):
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
    tx.execute(
        sql.SQL(
            "CREATE TEMP TABLE {} (id text, embedding {}, metadata jsonb) ON COMMIT DROP"
        ).format(staging, table.column_type)
    )
    with tx.conn.cursor() as cur:
        with cur.copy(sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(staging)) as copy:
            for chunk in queries.copy_rows(batch, table.halfvec):
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
