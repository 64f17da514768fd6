"""Keyword and hybrid search in a pgvector index table.

Each table keeps the records' ``text`` and a generated ``tsvector`` of it with a GIN index
(:func:`.sql.text_columns`). A keyword search is ``websearch_to_tsquery`` (web-search syntax:
every word must occur, ``"quoted phrases"``, ``or``, ``-word``; never a syntax error) ranked
by ``ts_rank`` normalized by document length, as in-place searches rank; a hybrid search runs
the nearest-neighbour leg, the keyword leg and their Reciprocal Rank Fusion as one statement.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

from psycopg import sql
from psycopg.types.json import Jsonb

from ...client.distance import score_from_distance
from ...client.requests import TextRequest
from ...client.results import Match, QueryResult
from ...client.validation import Batch
from ...postgres import TEXT_RANK_NORMALIZATION
from . import nearest
from . import sql as queries
from .connection import Tx
from .sql import Table, namespace_where

if TYPE_CHECKING:
    from .provider import PgvectorProvider

_RANK = f"ts_rank(text_search, query, {TEXT_RANK_NORMALIZATION:d})"


class TextSearch:
    """The pgvector provider's ``text_search`` and ``hybrid_search``."""

    def text_search(self: PgvectorProvider, index: str, request: TextRequest) -> QueryResult:
        return self._text_query(index, request, hybrid=False)

    def hybrid_search(self: PgvectorProvider, index: str, request: TextRequest) -> QueryResult:
        return self._text_query(index, request, hybrid=True)

    def _text_query(
        self: PgvectorProvider, index: str, request: TextRequest, hybrid: bool
    ) -> QueryResult:
        def build(table: Table) -> tuple[dict[str, str], str, list[Any]] | None:
            if not hybrid and not table.text_config:
                return None  # a table from before records carried text: none has any
            settings: dict[str, str] = {}
            if hybrid and request.vector_weight > 0:
                settings = nearest.query_settings(
                    table, request.candidates or request.top_k, request.filter is not None, {}
                )
            compose = hybrid_statement if hybrid else text_statement
            return (settings, *compose(table, request))

        table, rows = self._select(index, build)
        return text_result(table, request, rows, index, hybrid)

    def _with_text(self: PgvectorProvider, tx: Tx, table: Table, batch: Batch) -> Table:
        """``table``, given its text columns first when ``batch`` carries text and the
        table was made before records did (once: the registry remembers)."""
        if batch.texts is None or table.text_config:
            return table
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('vectra_django.create_index'))")
        self._tables.pop(table.name, None)
        current = self._table(tx, table.name)
        if current.text_config:
            return current
        config = self._index_defaults["text_config"]
        options = {**current.options, "text_config": config}
        upgraded = dataclasses.replace(current, options=options)
        tx.execute(
            sql.SQL("ALTER TABLE {} {}").format(
                upgraded.ident, queries.text_columns(upgraded, add=True)
            )
        )
        tx.execute(queries.text_index(upgraded))
        tx.execute(
            sql.SQL("UPDATE {} SET options = options || %s WHERE name = %s").format(
                queries.registry_ident(self.schema)
            ),
            [Jsonb({"text_config": config}), table.name],
        )
        self._tables[table.name] = upgraded
        return upgraded


def _columns(table: Table, request: TextRequest, prefix: str = "") -> sql.Composable:
    columns = []
    if request.include_values:
        columns.append(sql.SQL(f", {prefix}embedding"))
    if request.include_metadata:
        columns.append(sql.SQL(f", {prefix}metadata"))
    return sql.Composed(columns)


def _keyword_leg(table: Table, request: TextRequest, limit: int, extra: sql.Composable) -> Any:
    where, params = namespace_where(request.namespace, request.filter)
    statement = sql.SQL(
        "SELECT id, {rank} AS score{extra} FROM {table}, "
        "websearch_to_tsquery(%s::regconfig, %s) AS query "
        "WHERE {where} AND text_search @@ query ORDER BY score DESC, id LIMIT %s"
    ).format(rank=sql.SQL(_RANK), extra=extra, table=table.ident, where=sql.SQL(where))
    return statement, [table.text_config, request.text, *params, limit]


def text_statement(table: Table, request: TextRequest) -> tuple[str, list[Any]]:
    """``(id, score[, embedding][, metadata])`` of the best keyword matches, best first."""
    limit = request.candidates or request.top_k
    statement, params = _keyword_leg(table, request, limit, _columns(table, request))
    return statement.as_string(), params


_EMPTY_VECTOR_LEG = sql.SQL("SELECT NULL::text AS id, NULL::float8 AS distance WHERE false")
_EMPTY_TEXT_LEG = sql.SQL("SELECT NULL::text AS id, NULL::float8 AS score WHERE false")


def hybrid_statement(table: Table, request: TextRequest) -> tuple[str, list[Any]]:
    """Both legs, ranked, fused by RRF and joined back to the rows: one statement of
    ``(id, fused score, distance, text score[, embedding][, metadata])``."""
    candidates = request.candidates or request.top_k
    params: list[Any] = []
    vector_leg: sql.Composable = _EMPTY_VECTOR_LEG
    if request.vector_weight > 0:
        rerank = nearest.candidates(table, candidates, {})
        nearest_sql, nearest_params = nearest.select_nearest(
            table, request.vector, candidates, request.namespace, request.filter,
            False, False, None, rerank,
        )  # fmt: skip
        vector_leg = sql.SQL(nearest_sql)
        params += nearest_params
    text_leg: sql.Composable = _EMPTY_TEXT_LEG
    if request.text_weight > 0 and table.text_config:
        text_leg, text_params = _keyword_leg(table, request, candidates, sql.SQL(""))
        params += text_params
    statement = sql.SQL(
        "WITH vector_leg AS (SELECT id, distance, "
        "row_number() OVER (ORDER BY distance, id) AS rank FROM ({vector_leg}) AS hits), "
        "text_leg AS (SELECT id, score, "
        "row_number() OVER (ORDER BY score DESC, id) AS rank FROM ({text_leg}) AS hits), "
        "fused AS (SELECT coalesce(v.id, t.id) AS id, "
        "coalesce(%s / (%s + v.rank), 0) + coalesce(%s / (%s + t.rank), 0) AS score, "
        "v.distance, t.score AS text_score "
        "FROM vector_leg v FULL JOIN text_leg t ON v.id = t.id "
        "ORDER BY score DESC, id LIMIT %s) "
        "SELECT f.id, f.score, f.distance, f.text_score{extra} FROM fused f "
        "JOIN {table} r ON r.namespace = %s AND r.id = f.id ORDER BY f.score DESC, f.id"
    ).format(
        vector_leg=vector_leg,
        text_leg=text_leg,
        extra=_columns(table, request, "r."),
        table=table.ident,
    )
    k = float(request.rrf_k)
    params += [request.vector_weight, k, request.text_weight, k, request.top_k, request.namespace]
    return statement.as_string(), params


def text_result(
    table: Table, request: TextRequest, rows: list[Any], index: str, hybrid: bool
) -> QueryResult:
    """Rows of :func:`text_statement` or :func:`hybrid_statement` as matches."""
    matches = []
    for row in rows:
        rest = list(row[4:] if hybrid else row[2:])
        values = nearest.to_list(rest.pop(0)) if request.include_values else None
        metadata = rest.pop(0) if request.include_metadata else None
        if not hybrid:
            matches.append(Match(row[0], float(row[1]), values=values, metadata=metadata))
            continue
        distance = None if row[2] is None else float(row[2])
        if distance is not None and math.isnan(distance):
            distance = 1.0  # a stored zero vector has no direction: score 0
        matches.append(
            Match(
                row[0],
                float(row[1]),
                distance=distance,
                values=values,
                metadata=metadata,
                vector_score=None
                if distance is None
                else score_from_distance(table.metric, distance),
                text_score=None if row[3] is None else float(row[3]),
            )
        )
    return QueryResult(matches[: request.top_k], index=index, namespace=request.namespace)
