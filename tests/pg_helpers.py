"""Helpers shared by the tests that talk to the real test database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.conninfo import make_conninfo

from vectra_django.client import filters
from vectra_django.client.requests import QueryRequest
from vectra_django.providers.pgvector import nearest
from vectra_django.providers.pgvector import sql as _pgsql

if TYPE_CHECKING:
    from vectra_django import Client


def database_url(request: pytest.FixtureRequest, **extra: Any) -> str:
    """A libpq URL for the test database that pytest-django created, plus ``extra`` keys."""
    request.getfixturevalue("django_db_setup")
    from django.db import connection

    settings: dict[str, Any] = connection.settings_dict
    params = {
        "dbname": settings["NAME"],
        "user": settings.get("USER") or None,
        "password": settings.get("PASSWORD") or None,
        "host": settings.get("HOST") or None,
        "port": str(settings["PORT"]) if settings.get("PORT") else None,
        **extra,
    }
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


def table_of(conn: psycopg.Connection, index: str, schema: str = "public") -> str:
    """The table the pgvector provider keeps ``index`` in, read from its registry."""
    row = conn.execute(
        sql.SQL("SELECT table_name FROM {} WHERE name = %s").format(
            sql.Identifier(schema, _pgsql.REGISTRY)
        ),
        [index],
    ).fetchone()
    assert row is not None, f"index {index!r} is not registered"
    return row[0]


def table_checksum(conn: psycopg.Connection, table: str, schema: str = "public") -> tuple:
    """Row count and an md5 over every row's text form, in a stable order."""
    return conn.execute(
        sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
            "FROM {} AS t"
        ).format(sql.Identifier(schema, table))
    ).fetchone()


def explain_query(url: str, client: Client, index: str, vector: np.ndarray, top_k: int = 10) -> str:
    """The plan of the pgvector client's own nearest-neighbour query (namespace condition
    included), with sequential scans off so that any usable index shows."""
    table = client.provider._tables[index]  # type: ignore[attr-defined]
    request = QueryRequest(vector, top_k, "", filters.parse(None), False, True, None, {})
    _settings, statement, params = nearest.query(table, request)
    with psycopg.connect(url) as conn:
        register_vector(conn)
        conn.execute("SET enable_seqscan = off")
        rows = conn.execute("EXPLAIN " + statement, params).fetchall()
    return "\n".join(row[0] for row in rows)
