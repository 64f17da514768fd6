"""A nearest-neighbour query: its settings, SQL and parameters, and its rows as a result."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...client.distance import distance_from_score, score_from_distance
from ...client.requests import QueryRequest
from ...client.results import Match, QueryResult
from . import sql as queries
from .sql import Table


def query(table: Table, request: QueryRequest) -> tuple[dict[str, str], Any, list[Any]]:
    """The settings, SQL and parameters of ``request`` on ``table``."""
    settings = queries.query_settings(
        table, request.top_k, request.filter is not None, request.options
    )
    max_distance = None
    if request.score_threshold is not None:
        bound = distance_from_score(table.metric, request.score_threshold)
        if np.isfinite(bound):
            # A hair of slack: the client re-checks scores exactly.
            max_distance = bound + 1e-9 * max(1.0, abs(bound))
    statement, params = queries.select_nearest(
        table,
        request.vector,
        request.top_k,
        request.namespace,
        request.filter,
        request.include_values,
        request.include_metadata,
        max_distance,
    )
    return settings, statement, params


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
    """A pgvector value (``Vector``, ``HalfVector`` or a sequence) as a list of floats."""
    return value.to_list() if hasattr(value, "to_list") else list(value)
