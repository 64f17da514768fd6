"""Reading many rows' vectors fast: binary results, no model instances, no text parsing.

A ``vector(n)`` column read the ORM's way arrives as text (about ten bytes per float), is
parsed float by float and re-validated on assignment. For a bulk read such as
``vectra_reindex`` that is most of the time spent, so :func:`values_rows` runs the
queryset's own SQL on a binary-format psycopg cursor, where pgvector's loader returns each
vector as a float32 array, and then applies Django's usual per-column converters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet
from psycopg.adapt import Loader
from psycopg.pq import Format

from ..postgres import register
from .fields import VectorField


class _JsonbBinaryAsText(Loader):
    """jsonb in binary format as its text, which is what Django's ``JSONField`` decodes."""

    format = Format.BINARY

    def load(self, data: Any) -> str:
        return bytes(data)[1:].decode()  # the first byte is jsonb's format version


class _VectorBinaryAsArray(Loader):
    """A binary ``vector`` as a float32 array: one conversion, no ``pgvector.Vector``."""

    format = Format.BINARY

    def load(self, data: Any) -> np.ndarray:
        return _decode(data)


def _decode(data: Any) -> np.ndarray:
    # 2 bytes of dimension and 2 unused, then big-endian float32 values.
    return np.frombuffer(data, dtype=">f4", offset=4).astype(np.float32)


class _HalfvecBinaryAsArray(Loader):
    """A binary ``halfvec`` as a float32 array (big-endian float16 values after the header)."""

    format = Format.BINARY

    def load(self, data: Any) -> np.ndarray:
        return np.frombuffer(data, dtype=">f2", offset=4).astype(np.float32)


class _VectorBinaryAsBytes(Loader):
    """A binary ``vector`` as its bytes, for :func:`stack_vectors` to convert many at once."""

    format = Format.BINARY

    def load(self, data: Any) -> bytes:
        return bytes(data)


def values_rows(
    queryset: QuerySet, *names: str, raw_vectors: bool = False
) -> list[tuple[Any, ...]]:
    """``list(queryset.values_list(*names))``, with vector columns as float32 arrays (or,
    with ``raw_vectors``, ``vector`` columns as pgvector's binary format, for
    :func:`stack_vectors`; ``halfvec`` columns are arrays either way).

    On PostgreSQL the query runs on a binary cursor of the queryset's connection (inside its
    transaction, if any). Elsewhere it is the plain ``values_list``, with vectors as lists.
    """
    qs = queryset.values_list(*names)
    connection = connections[qs.db]
    if connection.vendor != "postgresql":
        return list(qs)
    compiler = qs.query.get_compiler(using=qs.db)
    try:
        statement, params = compiler.as_sql()
    except EmptyResultSet:  # e.g. filter(pk__in=[]): nothing to run
        return []
    connection.ensure_connection()
    register(connection.connection)
    raw = psycopg.Cursor(connection.connection)
    raw.format = Format.BINARY
    raw.adapters.register_loader("jsonb", _JsonbBinaryAsText)
    raw.adapters.register_loader(
        "vector", _VectorBinaryAsBytes if raw_vectors else _VectorBinaryAsArray
    )
    halfvec = raw.adapters.types.get("halfvec")
    if halfvec is not None:  # pgvector 0.7 and later
        raw.adapters.register_loader(halfvec.oid, _HalfvecBinaryAsArray)
    # Django's own wrapper, so query logging and execute_wrappers see the query.
    logged = connection.queries_logged
    with connection.make_debug_cursor(raw) if logged else connection.make_cursor(raw) as cursor:
        cursor.execute(statement, params)
        rows: list[Any] = cursor.fetchall()
    expressions = [column for column, _, _ in compiler.select]
    converters = {
        position: pair
        for position, pair in compiler.get_converters(expressions).items()
        if not isinstance(getattr(expressions[position], "target", None), VectorField)
    }
    if converters:
        rows = [tuple(row) for row in compiler.apply_converters(rows, converters)]
    return rows


def stack_vectors(vectors: list[Any]) -> np.ndarray:
    """The vector column of many rows as one float32 matrix.

    Binary values (``values_rows(..., raw_vectors=True)``) of one dimension are converted in
    a single numpy call, instead of one call per row; anything else is stacked row by row.
    """
    if not vectors:
        return np.empty((0, 0), dtype=np.float32)
    width = len(vectors[0])
    if all(type(v) is bytes and len(v) == width for v in vectors):
        words = np.frombuffer(b"".join(vectors), dtype=">f4").reshape(len(vectors), width // 4)
        return words[:, 1:].astype(np.float32)  # the first word of each is its header
    return np.stack([_as_array(v) for v in vectors])


def _as_array(value: Any) -> np.ndarray:
    return _decode(value) if type(value) is bytes else np.asarray(value, dtype=np.float32)
