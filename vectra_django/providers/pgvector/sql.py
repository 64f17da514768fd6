"""SQL for the pgvector provider: table layout, the filter compiler and binary COPY rows.

Everything here is pure: functions take validated input and return ``psycopg.sql`` objects
plus parameter lists, so they can be tested without a server. Identifiers always go through
:class:`~psycopg.sql.Identifier` and values are always bound parameters.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from psycopg import sql
from psycopg.types.json import Jsonb

from ...client import filters, validation
from ...client.distance import Metric
from ...client.text import INDEXED_TEXT_LENGTH
from ...client.validation import Batch
from ...errors import ValidationError
from ...postgres import PRECISIONS, QUANTIZATIONS, max_indexed_dimensions, opclass

REGISTRY = "vectra_indexes"
MAX_IDENTIFIER = 63
INDEX_TYPES = ("hnsw", "ivfflat", "none")
INDEX_OPTIONS = frozenset(
    {
        "index_type",
        "m",
        "ef_construction",
        "lists",
        "halfvec",
        "precision",
        "quantization",
        "text_config",
    }
)
TEXT_CONFIG_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
DISTANCE_OPERATORS: dict[Metric, str] = {"cosine": "<=>", "euclidean": "<->", "dotproduct": "<#>"}


def table_name(index: str) -> str:
    """The table holding ``index``: ``vectra_<index>``, hashed down to 63 bytes if longer."""
    name = f"vectra_{index}"
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(index.encode(), usedforsecurity=False).hexdigest()[:9]
    return f"{name[: MAX_IDENTIFIER - 10]}_{digest}"


@dataclass(frozen=True, slots=True)
class Table:
    """One index as stored: its registry row, resolved to what SQL needs."""

    name: str
    schema: str
    table: str
    dimension: int
    metric: Metric
    index_type: str = "hnsw"
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table)

    @property
    def halfvec(self) -> bool:
        return bool(self.options.get("halfvec", False))

    @property
    def text_config(self) -> str | None:
        """The text search configuration of the ``text`` column; ``None`` on a table made
        before records carried text (it gets the column on its first write of text)."""
        return self.options.get("text_config")

    @property
    def columns(self) -> sql.Composable:
        """The columns every write fills, in COPY order after ``namespace``."""
        names = "id, embedding, metadata, text" if self.text_config else "id, embedding, metadata"
        return sql.SQL(names)

    @property
    def quantized(self) -> bool:
        return self.options.get("quantization") == "binary"

    @property
    def quantized_column(self) -> sql.Composable:
        """The expression a binary-quantized index is built on (queries repeat it)."""
        return sql.SQL("binary_quantize(embedding)::bit({})").format(sql.Literal(self.dimension))

    @property
    def column_type(self) -> sql.Composable:
        return sql.SQL("{}({})").format(
            sql.SQL("halfvec" if self.halfvec else "vector"), sql.Literal(self.dimension)
        )

    @property
    def param(self) -> sql.Composable:
        """A placeholder for one vector, cast to the column's type."""
        return sql.SQL("%s::halfvec") if self.halfvec else sql.SQL("%s")

    @property
    def operator(self) -> sql.SQL:
        return sql.SQL(DISTANCE_OPERATORS[self.metric])

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dimension": self.dimension,
            "metric": self.metric,
            "index_type": self.index_type,
            "options": dict(self.options),
            "schema": self.schema,
            "table": self.table,
        }


def index_options(options: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Index options checked and merged over the provider's defaults.

    ``precision`` (``"single"`` or ``"half"``) is how the column stores values; the older
    ``halfvec=True`` says ``precision="half"``. ``quantization="binary"`` indexes the sign
    bits of each vector (see :mod:`.nearest`).
    """
    unknown = set(options) - INDEX_OPTIONS
    if unknown:
        raise ValidationError(
            f"Unknown pgvector index options {sorted(unknown)}; expected {sorted(INDEX_OPTIONS)}."
        )
    merged = {**defaults, **options}
    if merged["index_type"] not in INDEX_TYPES:
        raise ValidationError(
            f"index_type must be one of {list(INDEX_TYPES)}, got {merged['index_type']!r}."
        )
    for key, low, high in (("m", 2, 100), ("ef_construction", 4, 1000), ("lists", 1, 32768)):
        merged[key] = validation.integer(key, merged[key], low, high)
    if not isinstance(merged["halfvec"], bool):
        raise ValidationError(f"halfvec must be true or false, got {merged['halfvec']!r}.")
    given = options if "precision" in options or "halfvec" in options else defaults
    precision = given.get("precision") or ("half" if given.get("halfvec") else "single")
    if "halfvec" in given and given["halfvec"] != (precision == "half"):
        raise ValidationError("precision= and halfvec= disagree; give precision= only.")
    if precision not in PRECISIONS:
        raise ValidationError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}.")
    merged["precision"], merged["halfvec"] = precision, precision == "half"
    quantization = merged.get("quantization")
    if quantization not in QUANTIZATIONS:
        raise ValidationError(
            f"quantization must be one of {list(QUANTIZATIONS)}, got {quantization!r}."
        )
    if quantization and merged["index_type"] != "hnsw":
        raise ValidationError("quantization='binary' needs index_type='hnsw'.")
    merged["quantization"] = quantization
    config = merged.get("text_config", "english")
    if not isinstance(config, str) or not TEXT_CONFIG_RE.fullmatch(config):
        raise ValidationError(
            f"text_config must name a text search configuration such as 'english' or "
            f"'simple', got {config!r}."
        )
    merged["text_config"] = config
    return merged


def check_index(dimension: int, metric: Metric, options: Mapping[str, Any]) -> None:
    """Refuse what pgvector cannot index: a metric binary quantization cannot serve, or
    more dimensions than the index type takes."""
    if options["quantization"] and metric != "cosine":
        raise ValidationError(
            f"quantization='binary' cannot serve metric {metric!r}: Hamming distance between "
            "sign bits follows the angle between vectors, so it needs metric='cosine'."
        )
    if options["index_type"] == "none":
        return
    limit, kind = max_indexed_dimensions(options["precision"], options["quantization"])
    if dimension > limit:
        raise ValidationError(
            f"pgvector indexes {kind} of at most {limit:,} dimensions, and this index has "
            f"{dimension:,}. Use precision='half' (up to 4,000), quantization='binary' (up "
            "to 64,000) or index_type='none'."
        )


# -- DDL ----------------------------------------------------------------------------------


def registry_ident(schema: str) -> sql.Identifier:
    return sql.Identifier(schema, REGISTRY)


def create_registry(schema: str) -> sql.Composed:
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} ("
        "name text PRIMARY KEY, table_name text NOT NULL UNIQUE, dimension integer NOT NULL, "
        "metric text NOT NULL, index_type text NOT NULL, options jsonb NOT NULL DEFAULT '{{}}', "
        "created_at timestamptz NOT NULL DEFAULT now())"
    ).format(registry_ident(schema))


def create_table(table: Table) -> list[sql.Composed]:
    """The table, its GIN index on metadata and (unless ``none``) its vector index."""
    statements = [
        sql.SQL(
            "CREATE TABLE {} (namespace text NOT NULL DEFAULT '', id text NOT NULL, "
            "embedding {} NOT NULL, metadata jsonb NOT NULL DEFAULT '{{}}', {}, "
            "PRIMARY KEY (namespace, id))"
        ).format(table.ident, table.column_type, text_columns(table)),
        sql.SQL("CREATE INDEX ON {} USING gin (metadata)").format(table.ident),
        text_index(table),
    ]
    if table.quantized:
        statements.append(
            sql.SQL("CREATE INDEX ON {} USING hnsw (({}) bit_hamming_ops) WITH ({})").format(
                table.ident,
                table.quantized_column,
                sql.SQL("m = {}, ef_construction = {}").format(
                    sql.Literal(table.options["m"]), sql.Literal(table.options["ef_construction"])
                ),
            )
        )
    elif table.index_type != "none":
        opclass_name = opclass(table.metric, "half" if table.halfvec else "single")
        if table.index_type == "hnsw":
            params = sql.SQL("m = {}, ef_construction = {}").format(
                sql.Literal(table.options["m"]), sql.Literal(table.options["ef_construction"])
            )
        else:
            params = sql.SQL("lists = {}").format(sql.Literal(table.options["lists"]))
        statements.append(
            sql.SQL("CREATE INDEX ON {} USING {} (embedding {}) WITH ({})").format(
                table.ident, sql.SQL(table.index_type), sql.SQL(opclass_name), params
            )
        )
    return statements


def text_columns(table: Table, add: bool = False) -> sql.Composed:
    """The record's ``text`` and its stored ``tsvector``: a generated column, so it can
    never disagree with the text, whichever way a row is written. It reads the text's first
    ``INDEXED_TEXT_LENGTH`` characters, so no text is too long for a ``tsvector``."""
    prefix = sql.SQL("ADD COLUMN " if add else "")
    return sql.SQL(
        "{p}text text, {p}text_search tsvector GENERATED ALWAYS AS "
        "(to_tsvector({}::regconfig, left(coalesce(text, ''), {}))) STORED"
    ).format(sql.Literal(table.text_config), sql.Literal(INDEXED_TEXT_LENGTH), p=prefix)


def text_index(table: Table) -> sql.Composed:
    """The GIN index a keyword search's ``@@`` goes through."""
    return sql.SQL("CREATE INDEX ON {} USING gin (text_search)").format(table.ident)


# -- queries ------------------------------------------------------------------------------


def namespace_where(namespace: str, node: filters.Node | None) -> tuple[str, list[Any]]:
    """``namespace = %s``, and the filter's condition: fixed SQL text, values as parameters."""
    if node is None:
        return "namespace = %s", [namespace]
    condition, params = compile_filter(node)
    return f"namespace = %s AND {condition}", [namespace, *params]


def upsert_values(table: Table) -> sql.Composed:
    text = sql.SQL(", %s" if table.text_config else "")
    return sql.SQL("INSERT INTO {} (namespace, {}) VALUES (%s, %s, {}, %s{}) {}").format(
        table.ident, table.columns, table.param, text, _on_conflict(table)
    )


def upsert_from(table: Table, staging: sql.Identifier) -> sql.Composed:
    return sql.SQL("INSERT INTO {} (namespace, {}) SELECT %s, {} FROM {} {}").format(
        table.ident, table.columns, table.columns, staging, _on_conflict(table)
    )


def _on_conflict(table: Table) -> sql.SQL:
    text = ", text = EXCLUDED.text" if table.text_config else ""
    return sql.SQL(
        "ON CONFLICT (namespace, id) DO UPDATE "
        f"SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata{text}"
    )


# -- filters ------------------------------------------------------------------------------


def compile_filter(node: filters.Node) -> tuple[str, list[Any]]:
    """SQL over the ``metadata`` column with exactly :func:`filters.evaluate`'s semantics.

    Every piece is true or false, never NULL, so ``NOT`` and ``OR`` compose. Equality is
    ``@>`` containment (GIN-indexable, type-aware: ``true`` never contains ``1``, ``1``
    contains ``1.0``); range operators only look at JSON numbers. The text is fixed per
    operator; keys and values are parameters.
    """
    if isinstance(node, filters.And | filters.Or):
        parts = [compile_filter(child) for child in node.children]
        joiner = " AND " if isinstance(node, filters.And) else " OR "
        return (
            "(" + joiner.join(p[0] for p in parts) + ")",
            [param for p in parts for param in p[1]],
        )
    key, op, value = node.key, node.op, node.value
    if op in ("$eq", "$ne"):
        text = "metadata @> %s::jsonb"
        return (text if op == "$eq" else f"NOT ({text})"), [Jsonb({key: value})]
    if op in ("$in", "$nin"):
        text = "metadata @> ANY(%s::jsonb[])"
        params = [[Jsonb({key: v}) for v in value]]
        return (text if op == "$in" else f"NOT ({text})"), params
    if op == "$exists":
        return ("metadata ? %s" if value else "NOT (metadata ? %s)"), [key]
    comparison = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op]
    # CASE fixes the evaluation order, so the cast never sees a string or a boolean.
    text = (
        "(CASE WHEN jsonb_typeof(metadata -> %s) = 'number' "
        f"THEN (metadata ->> %s)::numeric {comparison} %s::numeric ELSE false END)"
    )
    return text, [key, key, _exact_decimal(value)]


def _exact_decimal(value: int | float) -> Decimal:
    # repr() is the shortest text that round-trips, the same text json.dumps stored.
    return Decimal(value) if isinstance(value, int) else Decimal(repr(value))


# -- binary COPY ----------------------------------------------------------------------------

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
_NULL = struct.pack(">i", -1)


def copy_rows(
    batch: Batch,
    halfvec: bool,
    namespace: str | None = None,
    chunk_rows: int = 2000,
    with_text: bool = False,
) -> Iterator[bytes]:
    """The binary COPY stream of ``([namespace text,] id text, embedding, metadata jsonb
    [, text])`` rows, in chunks; the namespace column is sent when ``namespace`` is given,
    the text column when ``with_text``.

    The vectors are converted to big-endian in one numpy call and sliced, not dumped one by
    one, so the Python work per row is a few small byte strings.
    """
    matrix = np.ascontiguousarray(batch.values, dtype=">f2" if halfvec else ">f4")
    dimension = matrix.shape[1]
    vector_header = struct.pack(">iHH", 4 + matrix.itemsize * dimension, dimension, 0)
    # bytes, not memoryview slices: bytes are not tracked by the garbage collector, so a
    # large batch does not set off collections.
    rows = matrix.tobytes()
    stride = matrix.itemsize * dimension
    encoded = batch.metadata_json
    if encoded is None:
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        encoded = [dumps(meta).encode() for meta in batch.metadata]
    pack_len = struct.Struct(">i").pack
    fields = 4 if with_text else 3
    if namespace is None:
        row_start = struct.pack(">h", fields)
    else:
        ns = namespace.encode()
        row_start = struct.pack(">hi", fields + 1, len(ns)) + ns
    texts = batch.texts if with_text else None
    yield COPY_HEADER
    for start in range(0, len(batch), chunk_rows):
        parts: list[bytes] = []
        for i in range(start, min(start + chunk_rows, len(batch))):
            vid = batch.ids[i].encode()
            meta = encoded[i]
            parts += (
                row_start,
                pack_len(len(vid)),
                vid,
                vector_header,
                rows[i * stride : (i + 1) * stride],
                pack_len(len(meta) + 1),
                b"\x01",
                meta,
            )
            if with_text:
                text = None if texts is None else texts[i]
                if text is None:
                    parts.append(_NULL)
                else:
                    encoded_text = text.encode()
                    parts += (pack_len(len(encoded_text)), encoded_text)
        yield b"".join(parts)
    yield COPY_TRAILER
