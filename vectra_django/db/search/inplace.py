"""In-place search: one ``SELECT`` over the model table when the field's store is pgvector on
the model's own database (the column is the index).

The queryset's own filters, ``filter=`` compiled to ``Q``, the score threshold as a distance
bound and ``ORDER BY distance LIMIT n`` make one statement. It runs lazily, like any
queryset; the settings it needs (``hnsw.ef_search``, the iterative scan) travel with its
query vector and are applied by :mod:`.session` wherever the statement runs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db import connections, models
from django.db.models import Field, Value
from django.db.models.query import ModelIterable

from ...client.distance import distance_from_score
from ...client.results import Match, QueryResult
from ...instrumentation import instrument
from ...postgres import default_ef_search, rerank_candidates
from ..fields import VectorField, vector_id
from . import expressions, parameters, session, statement_cache
from .filters import compile_q

if TYPE_CHECKING:
    from ..queryset import VectorQuerySet

# The output field of the query vector's Value: passes the parameter through untouched.
_PARAMETER = Field()


def inplace_search(
    queryset: VectorQuerySet,
    vf: VectorField,
    values: list[float],
    limit: int,
    node: Any,
    threshold: float | None,
    load_records: bool,
    exclude: Any,
    include_values: bool,
    candidates: int | None = None,
) -> VectorQuerySet | QueryResult:
    def build(base: VectorQuerySet) -> VectorQuerySet:
        qs = base if exclude is None else base.exclude(pk=exclude)
        if load_records and not include_values:
            qs = qs._without_vectors()
        if node is not None:
            qs = qs._apply_q(compile_q(queryset.model, node))
        if vf.null:  # a NOT NULL column needs no filter (and its query stays simpler)
            qs = qs.filter(**{f"{vf.name}__isnull": False})
        query = Value(vector, output_field=_PARAMETER)
        if rerank:  # candidates by their sign bits' Hamming distance, through the index
            hamming = expressions.hamming(vf.name, query, vf.dimensions, vf.half)
            qs = qs.filter(pk__in=qs.order_by(hamming).values("pk")[:rerank])
        distance = expressions.distance(vf.metric, vf.name, query)
        qs = qs.annotate(
            vector_distance=expressions.reported_distance(vf.metric, distance),
            vector_score=expressions.score(vf.metric, "vector_distance"),
        )
        if threshold is not None:
            bound = distance_from_score(vf.metric, threshold)
            if not math.isinf(bound):
                qs = qs.filter(vector_distance__lte=bound)
        ordered = qs.order_by(distance) if vf.metric == "cosine" else qs.order_by("vector_distance")
        return ordered[:limit]

    filtered = bool(queryset.query.where) or any(
        condition is not None for condition in (node, threshold, exclude)
    )
    rerank = (candidates or rerank_candidates(limit)) if vf.quantization == "binary" else None
    search = session.SearchOptions(default_ef_search(rerank or limit, filtered))
    connection = connections[queryset.db]
    session.install(connection)  # connections made before the app was ready have none
    vector = parameters.parameter(connection, values, search, half=vf.half)
    options = {"index": vf.index or vf.model._meta.db_table, "limit": limit, "search": search}
    # Searches on the model's plain queryset are compiled once per shape (see
    # statement_cache); the filter's repr tells 1, 1.0 and True apart.
    plain = statement_cache.is_plain(queryset)
    shape = (queryset.model, vf.name, limit, repr(node), threshold, exclude is not None, rerank)
    excluded = None if exclude is None else _pk_db_value(queryset.model, exclude, queryset.db)
    if not load_records:

        def build_values(base: VectorQuerySet) -> Any:
            return build(base).values_list("pk", "vector_distance", "vector_score")

        key = (*shape, "ids")
        statement = plain and statement_cache.compiled(
            queryset.db, key, lambda: build_values(queryset), vector, excluded
        )
        if statement:
            fetch = functools.partial(statement.rows, queryset.db, vector, excluded)
        else:
            values_qs = build_values(queryset)
            fetch = lambda: list(values_qs)  # noqa: E731
        rows = run_search(queryset.db, options, fetch)
        rows.sort(key=lambda row: row[1])  # relaxed_order: neighbours may come out of order
        matches = [Match(vector_id(vf.model, pk), float(s), float(d)) for pk, d, s in rows]
        return QueryResult(matches, index=options["index"])
    key = (*shape, include_values)
    if plain and statement_cache.compiled(
        queryset.db, key, lambda: build(queryset), vector, excluded
    ):
        # Built only if the queryset is chained or inspected (see VectorQuerySet.query).
        qs = queryset._chain()
        qs._pending_search = PendingSearch(build, key, vector, excluded)
    else:
        qs = build(queryset)
    if qs._iterable_class is ModelIterable:
        qs._iterable_class = VectorSearchIterable
    qs._vector_search = options
    return qs


class PendingSearch(NamedTuple):
    """A plain search not built into its queryset yet: how to build it, the key of its
    compiled statement, its query vector and the primary key it leaves out (as a database
    value), if any."""

    build: Callable[[VectorQuerySet], VectorQuerySet]
    key: tuple[Any, ...]
    vector: parameters.QueryVector | None
    excluded: Any
    text: str | None = None


class VectorSearchIterable(ModelIterable):
    """Runs an in-place search with its ``SET LOCAL`` settings, in one transaction."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        qs = self.queryset
        options = qs._vector_search
        if options is None:
            yield from super().__iter__()
            return
        pending = qs._pending_search
        statement = None if pending is None else statement_cache.lookup(qs.db, pending.key)
        if statement is not None:
            fetch = functools.partial(statement.instances, qs.db, pending.vector, pending.excluded)
        else:  # compiles the queryset (building a pending search first)
            fetch = lambda: list(super(VectorSearchIterable, self).__iter__())  # noqa: E731
        rows = run_search(qs.db, options, fetch)
        rows.sort(key=lambda obj: obj.vector_distance)  # relaxed_order: may be out of order
        yield from rows


def run_search(using: str, options: dict[str, Any], fetch: Any) -> list[Any]:
    """Run ``fetch``, whose rows its caller sorts by distance, as one instrumented search
    with its query vector bound in binary (:mod:`.session` applies its settings)."""
    connection = connections[using]
    with instrument(
        "search", "pgvector", options["index"], metadata={"top_k": options["limit"], "inline": True}
    ) as details:
        with parameters.bound_parameters(connection), session.resorted():
            rows = fetch()
        details["result_count"] = len(rows)
    return rows


def _pk_db_value(model: type[models.Model], value: Any, using: str) -> Any:
    """``value`` as the parameter Django binds for ``pk=value`` (prepared, then adapted)."""
    pk = model._meta.pk
    return pk.get_db_prep_value(pk.get_prep_value(value), connections[using], prepared=True)
