"""A nearest-neighbour query: its settings, SQL and parameters, and its rows as a result.

On an index built over ``binary_quantize(embedding)`` the query takes ``candidates`` rows
(10 x ``top_k`` by default) by Hamming distance through that index, then ranks them by
their exact distance in the same statement: results carry exact scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from psycopg import sql

from ...client import filters, validation
from ...client.distance import distance_from_score, score_from_distance
from ...client.requests import QueryRequest
from ...client.results import Match, QueryResult
from ...errors import ValidationError
from ...postgres import MAX_EF_SEARCH, default_ef_search, rerank_candidates
from .sql import Table, namespace_where

ITERATIVE_SCANS = ("off", "strict_order", "relaxed_order")
# Past ef_search, the iterative scan goes on finding candidates (up to top_k's own limit).
MAX_CANDIDATES = 10_000
QUERY_OPTIONS = frozenset({"ef_search", "iterative_scan", "probes", "candidates"})


def query(table: Table, request: QueryRequest) -> tuple[dict[str, str], Any, list[Any]]:
    """The settings, SQL and parameters of ``request`` on ``table``."""
    settings = query_settings(table, request.top_k, request.filter is not None, request.options)
    max_distance = None
    if request.score_threshold is not None:
        bound = distance_from_score(table.metric, request.score_threshold)
        if np.isfinite(bound):
            # A hair of slack: the client re-checks scores exactly.
            max_distance = bound + 1e-9 * max(1.0, abs(bound))
    statement, params = select_nearest(
        table,
        request.vector,
        request.top_k,
        request.namespace,
        request.filter,
        request.include_values,
        request.include_metadata,
        max_distance,
        candidates(table, request.top_k, request.options),
    )
    return settings, statement, params


def query_settings(
    table: Table, top_k: int, filtered: bool, options: Mapping[str, Any]
) -> dict[str, str]:
    """The ``SET LOCAL`` values a query runs with, from its options and the index type.

    ``plan_cache_mode`` is always ``force_custom_plan``: psycopg prepares a statement on its
    fifth execution, and a generic plan cannot order by the index's distance operator.
    """
    unknown = set(options) - QUERY_OPTIONS
    if unknown:
        raise ValidationError(
            f"Unknown pgvector query options {sorted(unknown)}; expected {sorted(QUERY_OPTIONS)}."
        )
    settings = {"plan_cache_mode": "force_custom_plan"}
    wanted = candidates(table, top_k, options) or top_k  # what the index scan must return
    ef_search = validation.integer(
        "ef_search", options.get("ef_search", default_ef_search(wanted, filtered)), 1, MAX_EF_SEARCH
    )
    # Without iterative scan an approximate index returns at most ef_search rows, fewer when
    # a filter or the dead tuples of recent writes drop some: on by default (the query
    # re-sorts what a relaxed order returns).
    default_scan = "relaxed_order"
    scan = options.get("iterative_scan", default_scan)
    if scan not in ITERATIVE_SCANS:
        raise ValidationError(
            f"iterative_scan must be one of {list(ITERATIVE_SCANS)}, got {scan!r}."
        )
    if table.index_type == "hnsw":
        settings["hnsw.ef_search"] = str(ef_search)
        settings["hnsw.iterative_scan"] = scan
    elif table.index_type == "ivfflat":
        if scan == "strict_order":
            raise ValidationError(
                "ivfflat indexes support iterative_scan 'off' or 'relaxed_order'."
            )
        # IVFFlat probes one list by default; iterate over more lists until k rows are found.
        settings["ivfflat.iterative_scan"] = (
            "relaxed_order" if "iterative_scan" not in options else scan
        )
        if "probes" in options:
            settings["ivfflat.probes"] = str(
                validation.integer("probes", options["probes"], 1, 32768)
            )
    return settings


def candidates(table: Table, top_k: int, options: Mapping[str, Any]) -> int | None:
    """How many rows a binary-quantized search re-ranks (``None`` on other indexes)."""
    if not table.quantized:
        if "candidates" in options:
            raise ValidationError(
                "The candidates option applies to binary-quantized indexes only "
                f"(index {table.name!r} has none)."
            )
        return None
    return validation.integer(
        "candidates", options.get("candidates", rerank_candidates(top_k)), top_k, MAX_CANDIDATES
    )


def select_nearest(
    table: Table,
    vector: np.ndarray,
    top_k: int,
    namespace: str,
    node: filters.Node | None,
    include_values: bool,
    include_metadata: bool,
    max_distance: float | None,
    rerank: int | None = None,
) -> tuple[str, list[Any]]:
    """Nearest neighbours as ``(id, distance[, embedding][, metadata])`` rows, in the vector
    index's order: an iterative ``relaxed_order`` scan may return them slightly out of order,
    and a stored zero vector's cosine distance is NaN, so the caller sorts them and reports
    NaN as 1 (``nearest.result``).

    With ``max_distance`` the bound applies after the limit, in a materialized CTE, as
    pgvector's documentation recommends (a ``WHERE`` on the distance would keep the index
    from serving the ``ORDER BY``). With ``rerank`` (a binary-quantized index) that many
    candidates come by Hamming distance and the outer query keeps the ``top_k`` nearest.
    """
    where, where_params = namespace_where(namespace, node)
    params: list[Any] = [vector, *where_params, vector, rerank or top_k]
    bounded = max_distance is not None
    if bounded:
        params.append(max_distance)
    if rerank:
        params.append(top_k)
    key = (
        table.schema,
        table.table,
        table.metric,
        table.halfvec,
        include_values,
        include_metadata,
        where,
        bounded,
        bool(rerank),
    )
    statement = _nearest_statements.get(key)
    if statement is None:
        if len(_nearest_statements) >= 4096:  # filter shapes are few; this bounds the odd case
            _nearest_statements.clear()
        statement = _nearest_statements[key] = _compose_nearest(
            table, include_values, include_metadata, where, bounded, bool(rerank)
        )
    return statement, params


# Composed SQL as text, per table, columns and filter shape (values are parameters):
# composing costs more than the rest of a query's Python.
_nearest_statements: dict[tuple[Any, ...], str] = {}


def _compose_nearest(
    table: Table,
    include_values: bool,
    include_metadata: bool,
    where: str,
    bounded: bool,
    rerank: bool,
) -> str:
    columns = [
        sql.SQL("id"),
        sql.SQL("embedding {} {} AS distance").format(table.operator, table.param),
    ]
    if include_values:
        columns.append(sql.SQL("embedding"))
    if include_metadata:
        columns.append(sql.SQL("metadata"))
    order = (
        sql.SQL("{} <~> binary_quantize({})::bit({})").format(
            table.quantized_column, table.param, sql.Literal(table.dimension)
        )
        if rerank
        else sql.SQL("embedding {} {}").format(table.operator, table.param)
    )
    nearest = sql.SQL(
        "SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} LIMIT %s"
    ).format(
        columns=sql.SQL(", ").join(columns),
        table=table.ident,
        where=sql.SQL(where),
        order=order,
    )
    if bounded:
        # NaN (a stored zero vector, under cosine) counts as distance 1.
        distance = sql.SQL(
            "COALESCE(NULLIF(distance, 'NaN'::float8), 1)"
            if table.metric == "cosine"
            else "distance"
        )
        nearest = sql.SQL(
            "WITH hits AS MATERIALIZED ({}) SELECT * FROM hits WHERE {} <= %s"
        ).format(nearest, distance)
    if rerank:
        nearest = sql.SQL("SELECT * FROM ({}) AS candidates ORDER BY distance LIMIT %s").format(
            nearest
        )
    return nearest.as_string()


def result(table: Table, request: QueryRequest, rows: list[Any], index: str) -> QueryResult:
    """``(id, distance[, embedding][, metadata])`` rows as matches, best first: a relaxed
    iterative scan may return them slightly out of order, and a stored zero vector (NaN
    under cosine: it has no direction) is reported at distance 1, score 0."""
    matches = []
    for row in sorted(rows, key=_distance):
        distance = _distance(row)
        rest = list(row[2:])
        values = to_list(rest.pop(0)) if request.include_values else None
        metadata = rest.pop(0) if request.include_metadata else None
        matches.append(
            Match(
                id=row[0],
                score=score_from_distance(table.metric, distance),
                distance=distance,
                values=values,
                metadata=metadata,
            )
        )
    return QueryResult(matches, index=index, namespace=request.namespace)


def _distance(row: Any) -> float:
    distance = float(row[1])
    return 1.0 if math.isnan(distance) else distance


def to_list(value: Any) -> list[float]:
    """A pgvector value (``Vector``, ``HalfVector``, a sequence, or pgvector's text form when
    the connection's type registration is stale, as after the extension was re-created) as
    a list of floats."""
    if isinstance(value, str):
        return [float(x) for x in value.strip("[]").split(",")] if value != "[]" else []
    return value.to_list() if hasattr(value, "to_list") else list(value)
