"""Queries outside any transaction, in as few round trips as the session allows.

A nearest-neighbour query needs a few settings (``hnsw.ef_search``, the iterative scan,
a statement timeout). When the session already has them, the query goes alone: one round
trip, like hand-written SQL. Otherwise ``BEGIN``, ``set_config(..., true)``, the query and
``COMMIT`` go out together in psycopg's pipeline mode: still one round trip. The session's
values are read once per connection. A generic plan cannot order by the vector index, so
reads are prepared (after psycopg's threshold) only in sessions that run with
``plan_cache_mode = force_custom_plan``, as the pools' own do, and never elsewhere.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.types.json import JsonbBinaryLoader, JsonbLoader

from ...postgres import pipelined_transaction, session_settings, set_config

# Connections of our own pools, which load jsonb as dicts themselves.
_dict_jsonb: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()


def load_jsonb_as_dicts(conn: psycopg.Connection[Any]) -> None:
    """Make ``conn`` itself load jsonb as dicts (for connections only this package uses)."""
    conn.adapters.register_loader("jsonb", JsonbLoader)
    conn.adapters.register_loader("jsonb", JsonbBinaryLoader)
    _dict_jsonb.add(conn)


def cursor(conn: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
    """A cursor that loads jsonb as dicts (Django's connections load it as text, so there
    the cursor is told to)."""
    cur = conn.cursor()
    if conn not in _dict_jsonb:
        cur.adapters.register_loader("jsonb", JsonbLoader)
        cur.adapters.register_loader("jsonb", JsonbBinaryLoader)
    return cur


def select(
    conn: psycopg.Connection[Any], settings: Mapping[str, str], statement: Any, params: Any
) -> list[Any]:
    """Run ``statement`` on ``conn`` (in autocommit mode) with ``settings`` in force."""
    session = session_settings(conn)
    needed = {
        name: value
        for name, value in settings.items()
        if name != "plan_cache_mode" and session.get(name) != value
    }
    # Prepared (psycopg's own threshold) only where every plan is custom: a generic plan
    # cannot order by the vector index.
    prepare = None if session.get("plan_cache_mode") == "force_custom_plan" else False
    cur = cursor(conn)
    if not needed:
        return cur.execute(statement, params, prepare=prepare).fetchall()
    with pipelined_transaction(conn):
        conn.execute(*set_config(needed))
        cur.execute(statement, params, prepare=prepare)
    return cur.fetchall()
