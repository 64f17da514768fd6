"""Keyword and hybrid search in place, on the model's own table.

``text_search`` is an ORM query: ``<field>_text_search @@ websearch_to_tsquery(...)`` through
the GIN index, ranked by ``ts_rank`` (:func:`text_rank`). ``hybrid_search`` is one statement
too: both legs (each the queryset's own filters, ``ORDER BY ... LIMIT candidates``) and
their Reciprocal Rank Fusion form a subquery joined to the model's table, so the result is an
ordinary queryset of instances carrying ``hybrid_score``, ``vector_score``, ``vector_distance`` and
``text_score`` (``None`` where a leg did not return the row).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Expression, F, FloatField, Value
from django.db.models.query import ModelIterable
from django.db.models.sql.constants import INNER

from ...instrumentation import instrument
from ...postgres import TEXT_RANK_NORMALIZATION, default_ef_search, rerank_candidates
from ..fields import VectorField
from ..text import search_column
from . import expressions, parameters, session, statement_cache
from .filters import compile_q

if TYPE_CHECKING:
    from ..queryset import VectorQuerySet

FUSED = "vectra_fused"
_FLOAT = FloatField()


class KeywordQuery(SearchQuery):
    """``(SELECT websearch_to_tsquery(text_config, text))``: web-search syntax, never a
    syntax error.

    A sub-select, so the server parses the text once per statement and plans the keyword
    leg the same way for every text (GIN bitmap scan, then rank the matches), rather than
    estimating each text's selectivity from the column's statistics: at 100K rows that
    saved a tenth of a millisecond per two-word hybrid search, and the plan is the same.
    """

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        sql, params = super().as_sql(compiler, connection, **extra)
        return f"(SELECT {sql})", params


def keyword_query(vf: VectorField, text: str) -> KeywordQuery:
    return KeywordQuery(text, config=vf.text_config, search_type="websearch")


def text_rank(column: str, query: KeywordQuery) -> SearchRank:
    """``ts_rank(column, query, 33)``: term frequency, divided by ``1 + log(length)`` so a
    long document does not win by size alone, scaled to [0, 1) as ``r / (r + 1)``.

    Not ``ts_rank_cd``: cover density scores a document only where all of an ``or`` query's
    words stand together, and on the known-item benchmark it ranks worse (MRR@10 0.951
    against 0.972) at more cost per matching row."""
    return SearchRank(F(column), query, normalization=Value(TEXT_RANK_NORMALIZATION))


def inplace_text_search(
    queryset: VectorQuerySet, vf: VectorField, text: str, limit: int, node: Any
) -> VectorQuerySet:
    column = _column(vf)

    def build(base: VectorQuerySet, text: str) -> VectorQuerySet:
        query = keyword_query(vf, text)
        qs = base._without_vectors()
        if node is not None:
            qs = qs._apply_q(compile_q(queryset.model, node))
        qs = qs.filter(**{column: query}).annotate(text_score=text_rank(column, query))
        return qs.order_by("-text_score", "pk")[:limit]

    key = ("text_search", queryset.model, vf.name, limit, repr(node))
    return _cached(queryset, build, key, None, text, "text_search", vf, limit)


def inplace_hybrid_search(
    queryset: VectorQuerySet,
    vf: VectorField,
    text: str,
    values: list[float] | None,
    limit: int,
    node: Any,
    weights: tuple[float, float],
    rrf_k: int,
    candidates: int,
) -> VectorQuerySet:
    column = _column(vf)
    connection = connections[queryset.db]
    session.install(connection)
    vector = None
    if weights[0] > 0:
        rerank = rerank_candidates(candidates) if vf.quantization == "binary" else None
        filtered = bool(queryset.query.where) or node is not None
        options = session.SearchOptions(default_ef_search(rerank or candidates, filtered))
        vector = parameters.parameter(connection, values, options, half=vf.half)

    def build(base: VectorQuerySet, text: str) -> VectorQuerySet:
        return _hybrid(base, vf, column, text, vector, limit, node, weights, rrf_k, candidates)

    key = ("hybrid_search", queryset.model, vf.name, limit, repr(node), weights, rrf_k, candidates)
    return _cached(queryset, build, key, vector, text, "hybrid_search", vf, limit)


def _cached(
    queryset: VectorQuerySet,
    build: Any,
    key: tuple[Any, ...],
    vector: Any,
    text: str,
    operation: str,
    vf: VectorField,
    limit: int,
) -> VectorQuerySet:
    """The search's queryset; on the model's plain queryset its statement is compiled once
    per shape (:mod:`.statement_cache`) and later searches bind their vector and text."""
    from .inplace import PendingSearch

    if statement_cache.is_plain(queryset):
        marker = "".join(["vectra-text-", str(id(key))])  # a string no caller holds
        statement = statement_cache.compiled(
            queryset.db, key, lambda: build(queryset, marker), vector, text=marker
        )
        if statement is not None:
            qs = queryset._chain()  # built only if chained or inspected (VectorQuerySet.query)
            qs._pending_search = PendingSearch(
                lambda base: build(base, text), key, vector, None, text
            )
            return _instrumented(qs, operation, vf, limit)
    return _instrumented(build(queryset, text), operation, vf, limit)


def _hybrid(
    queryset: VectorQuerySet,
    vf: VectorField,
    column: str,
    text: str,
    vector: Any,
    limit: int,
    node: Any,
    weights: tuple[float, float],
    rrf_k: int,
    candidates: int,
) -> VectorQuerySet:
    base = queryset.order_by()
    if node is not None:
        base = base._apply_q(compile_q(queryset.model, node))
    connection = connections[queryset.db]
    pk_type = queryset.model._meta.pk.db_type(connection)
    empty = f"SELECT NULL::{pk_type}, NULL::float8 WHERE false"
    try:
        vector_leg = (
            _vector_leg(base, vf, vector, candidates) if vector is not None else (empty, [])
        )
        text_leg = _text_leg(base, vf, column, text, candidates) if weights[1] > 0 else (empty, [])
    except EmptyResultSet:
        return queryset.none()
    # The legs are SQL that Django compiled (their values are parameters); nothing else
    # enters the text but the primary key's column type.
    fused = (
        "SELECT coalesce(v.pk, t.pk) AS pk, "  # noqa: S608
        "coalesce(%s / (%s + v.rank), 0) + coalesce(%s / (%s + t.rank), 0) AS hybrid_score, "
        "v.distance AS vector_distance, t.score AS text_score "
        "FROM (SELECT pk, distance, row_number() OVER (ORDER BY distance, pk) AS rank "
        f"FROM ({vector_leg[0]}) AS leg (pk, distance)) AS v "
        "FULL JOIN (SELECT pk, score, row_number() OVER (ORDER BY score DESC, pk) AS rank "
        f"FROM ({text_leg[0]}) AS leg (pk, score)) AS t ON v.pk = t.pk "
        "ORDER BY hybrid_score DESC, pk LIMIT %s"
    )
    k = float(rrf_k)
    params = [weights[0], k, weights[1], k, *vector_leg[1], *text_leg[1], limit]
    qs = queryset._without_vectors()._chain()
    parent = qs.query.get_initial_alias()
    qs.query.join(FusedJoin(fused, params, parent, queryset.model._meta.pk.column))
    distance = FusedColumn("vector_distance")
    if vf.metric == "cosine":  # a stored zero vector (NaN) at distance 1; NULL stays NULL
        distance = FusedColumn("vector_distance", nan_as=1.0)
    qs = qs.annotate(
        hybrid_score=FusedColumn("hybrid_score"),
        text_score=FusedColumn("text_score"),
        vector_distance=distance,
        vector_score=expressions.score(vf.metric, "vector_distance"),
    ).order_by("-hybrid_score", "pk")[:limit]
    return qs


def _column(vf: VectorField) -> str:
    from ...errors import ValidationError

    column = search_column(vf)
    if column is None:
        raise ValidationError(
            f"{vf.label} has no keyword search: declare VectorField(text_search=True) (its "
            "source fields) or text_search=('title', 'body'), then make and run migrations."
        )
    return column


def _vector_leg(
    base: VectorQuerySet, vf: VectorField, vector: Any, candidates: int
) -> tuple[str, list[Any]]:
    from .inplace import _PARAMETER as parameter_field

    query = Value(vector, output_field=parameter_field)
    leg = base.filter(**{f"{vf.name}__isnull": False}) if vf.null else base
    if vf.quantization == "binary":
        hamming = expressions.hamming(vf.name, query, vf.dimensions, vf.half)
        leg = leg.filter(pk__in=leg.order_by(hamming).values("pk")[: rerank_candidates(candidates)])
    distance = expressions.distance(vf.metric, vf.name, query)
    leg = leg.annotate(_vectra_distance=distance).order_by(distance)
    return _sql(leg.values_list("pk", "_vectra_distance")[:candidates])


def _text_leg(
    base: VectorQuerySet, vf: VectorField, column: str, text: str, candidates: int
) -> tuple[str, list[Any]]:
    query = keyword_query(vf, text)
    leg = base.filter(**{column: query}).annotate(_vectra_rank=text_rank(column, query))
    return _sql(leg.order_by("-_vectra_rank", "pk").values_list("pk", "_vectra_rank")[:candidates])


def _sql(qs: Any) -> tuple[str, list[Any]]:
    statement, params = qs.query.get_compiler(qs.db).as_sql()
    return statement, list(params)


def _quote_alias(compiler: Any, alias: str) -> str:
    """``alias`` as the compiler writes it everywhere else in the statement: Django 6.1 quotes
    every alias (``compiler.quote_name``), earlier versions leave a join's alias bare."""
    quote = getattr(compiler, "quote_name", None) or compiler.quote_name_unless_alias
    return quote(alias)  # type: ignore[no-any-return]


class FusedJoin:
    """``INNER JOIN (<fused legs>) AS vectra_fused ON vectra_fused.pk = <table>.<pk>``:
    a join Django's compiler renders like its own, so the search stays one queryset."""

    filtered_relation = None
    nullable = False
    join_field = None

    def __init__(self, sql: str, params: list[Any], parent_alias: str, pk_column: str) -> None:
        self.sql = sql
        self.params = params
        self.parent_alias = parent_alias
        self.pk_column = pk_column
        self.table_name = FUSED
        self.table_alias: str = FUSED
        self.join_type = INNER

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        alias = _quote_alias(compiler, self.table_alias)
        parent = _quote_alias(compiler, self.parent_alias)
        on = f"{alias}.pk = {parent}.{connection.ops.quote_name(self.pk_column)}"
        return f"INNER JOIN ({self.sql}) {alias} ON ({on})", list(self.params)

    def relabeled_clone(self, change_map: dict[str, str]) -> FusedJoin:
        clone = copy.copy(self)
        clone.parent_alias = change_map.get(self.parent_alias, self.parent_alias)
        clone.table_alias = change_map.get(self.table_alias, self.table_alias)
        return clone

    def demote(self) -> FusedJoin:
        return self

    def promote(self) -> FusedJoin:
        return self


class FusedColumn(Expression):
    """A column of the fused subquery (see :class:`FusedJoin`)."""

    output_field = _FLOAT

    def __init__(self, column: str, alias: str = FUSED, nan_as: float | None = None) -> None:
        super().__init__()
        self.column = column
        self.alias = alias
        self.nan_as = nan_as

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        quote = connection.ops.quote_name
        column = f"{_quote_alias(compiler, self.alias)}.{quote(self.column)}"
        if self.nan_as is None:
            return column, []
        return f"CASE WHEN {column} = 'NaN'::float8 THEN %s ELSE {column} END", [self.nan_as]

    def relabeled_clone(self, change_map: dict[str, str]) -> FusedColumn:
        alias = change_map.get(self.alias, self.alias)
        return FusedColumn(self.column, alias, self.nan_as)

    def get_group_by_cols(self) -> list[Expression]:
        return [self]


def _instrumented(
    qs: VectorQuerySet, operation: str, vf: VectorField, limit: int
) -> VectorQuerySet:
    if qs._iterable_class is ModelIterable:  # values() and the like run as they are
        qs._iterable_class = KeywordSearchIterable
    index = vf.index or vf.model._meta.db_table
    qs._keyword_search = (operation, index, limit)
    return qs


class KeywordSearchIterable(ModelIterable):
    """Runs a keyword or hybrid search as one instrumented statement, its query vector
    bound in binary (:mod:`.session` applies the vector leg's settings), from its compiled
    statement when it has one."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        qs = self.queryset
        operation, index, limit = qs._keyword_search
        connection = connections[qs.db]
        pending = qs._pending_search
        statement = None if pending is None else statement_cache.lookup(qs.db, pending.key)
        metadata = {"top_k": limit, "inline": True}
        with instrument(operation, "pgvector", index, metadata=metadata) as details:
            # The fusion ranks the vector leg by distance itself: a relaxed scan order will do.
            with parameters.bound_parameters(connection), session.resorted():
                if statement is not None:
                    rows = statement.instances(qs.db, pending.vector, None, pending.text)
                else:
                    rows = list(super().__iter__())
            details["result_count"] = len(rows)
        yield from rows
