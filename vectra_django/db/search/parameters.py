"""How an in-place search reaches PostgreSQL: its query vector bound in binary, once per
statement, and only the settings that the session's defaults do not already give.

Django binds parameters on the client by default, so a query vector would travel as a few
kilobytes of SQL text, formatted in Python and parsed by the server once per use (the
distance and the score). :class:`QueryVector` is bound server-side instead, in pgvector's
binary format, by a cursor that never prepares the statement, so every search is planned
with its actual vector (which is what lets the vector index serve ``ORDER BY distance``).
"""

from __future__ import annotations

import contextlib
import functools
import struct
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
from psycopg.adapt import Dumper
from psycopg.pq import Format

from ...postgres import session_settings, vector_text

_prepared: weakref.WeakSet[Any] = weakref.WeakSet()


class QueryVector:
    """A query vector as a SQL parameter: binary on the wire, pgvector's text in logs.

    ``options`` are the session settings its search needs (a ``session.SearchOptions``),
    applied wherever a statement binding it runs (see :mod:`.session`). ``half`` sends it
    as a ``halfvec``, for a half-precision column.
    """

    __slots__ = ("array", "half", "options")

    def __init__(self, values: Any, options: Any = None, half: bool = False) -> None:
        self.array = np.ascontiguousarray(values, dtype=np.float32)
        self.options = options
        self.half = half

    def __str__(self) -> str:
        return vector_text(self.array.tolist())

    def __repr__(self) -> str:
        return f"QueryVector({self})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QueryVector) and np.array_equal(self.array, other.array)

    def __hash__(self) -> int:
        return hash(self.array.tobytes())


class _TextDumper(Dumper):
    """For client-side binding and query logs: an untyped literal the server casts."""

    format = Format.TEXT

    def dump(self, obj: QueryVector) -> bytes:
        return str(obj).encode()


class _BinaryDumper(Dumper):
    """pgvector's binary input: dimension, a reserved zero, then big-endian float32 values
    (``vector``) or float16 ones (``halfvec``).

    Sent untyped (oid 0), so the server takes the type from the operator it meets.
    """

    format = Format.BINARY

    def dump(self, obj: QueryVector) -> bytes:
        array = obj.array
        values = array.astype(">f2" if obj.half else ">f4")
        return struct.pack(">HH", array.shape[0], 0) + values.tobytes()


def prepare(connection: Any) -> None:
    """Teach ``connection`` (a Django connection) to send :class:`QueryVector` parameters.

    Only that class gets the dumpers, so nothing else the connection sends changes.
    """
    connection.ensure_connection()
    raw = connection.connection
    if raw in _prepared:
        return
    raw.adapters.register_dumper(QueryVector, _TextDumper)
    raw.adapters.register_dumper(QueryVector, _BinaryDumper)
    _prepared.add(raw)


def parameter(connection: Any, values: Any, options: Any = None, half: bool = False) -> QueryVector:
    """``values`` as a parameter of ``connection``, which is taught to send it first."""
    prepare(connection)
    return QueryVector(values, options, half)


@contextlib.contextmanager
def bound_parameters(connection: Any) -> Iterator[None]:
    """Within the block, cursors of ``connection`` bind server-side and never prepare
    (and can send :class:`QueryVector`, whichever thread built the query)."""
    prepare(connection)
    raw = connection.connection
    previous = raw.cursor_factory
    raw.cursor_factory = _one_shot_cursor_class()
    try:
        yield
    finally:
        raw.cursor_factory = previous


@functools.cache
def _one_shot_cursor_class() -> type:
    # Imported on first use: the PostgreSQL backend on psycopg 3 (a dependency of this
    # package, so Django always picks it over psycopg2).
    from django.db.backends.postgresql.base import ServerBindingCursor

    class OneShotCursor(ServerBindingCursor):  # type: ignore[misc, valid-type]
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            return super().execute(query, params, **{**kwargs, "prepare": False})

    return OneShotCursor


def needs_settings(connection: Any, ef_search: int, order: str) -> bool:
    """Whether a search needing ``ef_search`` and pgvector's iterative scan in ``order``
    (``"relaxed_order"`` or ``"strict_order"``) must set them first: not when the session
    already runs with enough (the server's or the connection's own configuration)."""
    connection.ensure_connection()
    session = session_settings(connection.connection)
    iterative = session["hnsw.iterative_scan"]
    serves = iterative == "strict_order" or iterative == order
    return ef_search > int(session["hnsw.ef_search"]) or not serves
