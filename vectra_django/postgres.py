"""PostgreSQL and pgvector facts that the client's pgvector provider and the ORM side share.

Public, and free of both sides' internals: the ``hnsw.ef_search`` defaults, pgvector's
limits, the text form of a vector and the registration of pgvector's psycopg types.
"""

from __future__ import annotations

import weakref
from typing import Any

import psycopg

# pgvector's limits for hnsw.ef_search and the HNSW build parameters.
MAX_EF_SEARCH = 1000
# hnsw.ef_search by default, unfiltered and filtered (why: docs/architecture.md).
EF_SEARCH = 40
FILTERED_EF_SEARCH = 200


def default_ef_search(top_k: int, filtered: bool) -> int:
    """The ``hnsw.ef_search`` a search of ``top_k`` runs with unless told otherwise."""
    return min(MAX_EF_SEARCH, max(FILTERED_EF_SEARCH if filtered else EF_SEARCH, top_k))


def vector_text(values: Any) -> str:
    """pgvector's text form of float32 ``values``: nine significant digits, the fewest that
    give back every float32 exactly, formatted twice as fast as one ``str()`` per value."""
    return "[" + ",".join(map("%.9g".__mod__, values)) + "]"


_registered: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()


def register(conn: psycopg.Connection[Any]) -> None:
    """Register pgvector's types on ``conn`` once, as soon as the extension exists."""
    if conn in _registered:
        return
    from pgvector.psycopg import register_vector

    try:
        register_vector(conn)
    except psycopg.ProgrammingError:
        return  # no vector extension yet: tried again by the next operation that needs it
    _registered.add(conn)
