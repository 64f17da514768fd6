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

from .fields import VectorField
from .providers._pgconn import register


class _JsonbBinaryAsText(Loader):
    """jsonb in binary format as its text, which is what Django's ``JSONField`` decodes."""

    format = Format.BINARY

    def load(self, data: Any) -> str:
        return bytes(data)[1:].decode()  # the first byte is jsonb's format version


class _VectorBinaryAsArray(Loader):
    """A binary ``vector`` as a float32 array: one conversion, no ``pgvector.Vector``."""

    format = Format.BINARY

    def load(self, data: Any) -> np.ndarray:
        # 2 bytes of dimension and 2 unused, then big-endian float32 values.
        return np.frombuffer(data, dtype=">f4", offset=4).astype(np.float32)


def values_rows(queryset: QuerySet, *names: str) -> list[tuple[Any, ...]]:
    """``list(queryset.values_list(*names))``, with vector columns as float32 arrays.

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
    raw.adapters.register_loader("vector", _VectorBinaryAsArray)
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
