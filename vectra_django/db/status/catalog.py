"""What PostgreSQL's catalogs say about a model table: the indexes on a column, the column
itself, and index builds running on the table right now.

Indexes are matched to a column through ``pg_depend``, where PostgreSQL records every column
an index reads, so an expression index (the sign bits of a binary-quantized vector) counts
as one on its column just like a plain one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_INDEXES = """
SELECT c.relname, a.amname, oc.opcname, c.reloptions, pg_relation_size(c.oid), i.indisvalid
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am a ON a.oid = c.relam
LEFT JOIN pg_opclass oc ON oc.oid = i.indclass[0]
WHERE i.indrelid = %s::regclass AND a.amname = ANY(%s) AND EXISTS (
    SELECT 1 FROM pg_depend d
    JOIN pg_attribute att ON att.attrelid = d.refobjid AND att.attnum = d.refobjsubid
    WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
      AND d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indrelid
      AND att.attname = %s
)
ORDER BY c.relname
"""

_COLUMN = """
SELECT 1 FROM pg_attribute
WHERE attrelid = %s::regclass AND attname = %s AND attnum > 0 AND NOT attisdropped
"""

_BUILDS = """
SELECT p.command, p.phase, ic.relname, p.blocks_done, p.blocks_total, p.tuples_done,
       p.tuples_total, p.pid
FROM pg_stat_progress_create_index p
LEFT JOIN pg_class ic ON ic.oid = p.index_relid
WHERE p.relid = %s::regclass
ORDER BY p.pid
"""


@dataclass
class IndexInfo:
    """One index on the column: its access method, the operator class of its first key,
    the options it was built with (``m``, ``ef_construction``, ``lists``; pgvector's
    defaults when empty), its size, whether it is valid (a failed concurrent build leaves
    an invalid index that searches never use) and whether its operator class serves the
    field's metric."""

    name: str
    method: str
    opclass: str | None
    options: dict[str, str] = field(default_factory=dict)
    size_bytes: int = 0
    valid: bool = True
    serves_metric: bool | None = None


@dataclass
class BuildInfo:
    """A ``CREATE INDEX`` or ``REINDEX`` running on the table, from
    ``pg_stat_progress_create_index``."""

    command: str
    phase: str
    index: str | None
    blocks_done: int
    blocks_total: int
    tuples_done: int
    tuples_total: int
    pid: int


def regclass(connection: Any, table: str) -> str:
    """The table's name as ``::regclass`` reads it (quoted, so case and dots survive)."""
    return str(connection.ops.quote_name(table))


def parse_options(reloptions: list[str] | None) -> dict[str, str]:
    """``{m=16,ef_construction=64}`` as a dict."""
    return dict(option.split("=", 1) for option in reloptions or ())


def indexes_on(
    connection: Any, table: str, column: str, methods: tuple[str, ...]
) -> list[IndexInfo]:
    """The indexes of access ``methods`` that read ``column`` of ``table``."""
    with connection.cursor() as cursor:
        cursor.execute(_INDEXES, [regclass(connection, table), list(methods), column])
        rows = cursor.fetchall()
    return [
        IndexInfo(name, method, opclass, parse_options(options), int(size), bool(valid))
        for name, method, opclass, options, size, valid in rows
    ]


def has_column(connection: Any, table: str, column: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_COLUMN, [regclass(connection, table), column])
        return cursor.fetchone() is not None


def builds_on(connection: Any, table: str) -> list[BuildInfo]:
    """Index builds running on ``table`` in any session."""
    with connection.cursor() as cursor:
        cursor.execute(_BUILDS, [regclass(connection, table)])
        rows = cursor.fetchall()
    return [
        BuildInfo(command, phase, index, *(int(n or 0) for n in counts), int(pid))
        for command, phase, index, *counts, pid in rows
    ]
