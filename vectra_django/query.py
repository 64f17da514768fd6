"""``VectorQuerySet.vector_search``: nearest rows first, with ``vector_score``/``vector_distance``.

Two modes, chosen per call from the field's ``VECTRA`` alias and the queryset's database:

- **in place** (pgvector on the same database): one ``SELECT`` over the model table with the
  queryset's own filters, ``filter=`` compiled to ``Q`` over model fields, the score
  threshold as a distance bound and ``ORDER BY distance LIMIT n``. It runs lazily, like any
  queryset, inside a short transaction that first sets ``hnsw.ef_search``,
  ``plan_cache_mode`` and, when filtered, the pgvector 0.8 iterative scan (``SET LOCAL``
  semantics: inside an outer transaction they last until it ends).
- **remote** (any other provider): the store is queried when ``vector_search`` is called;
  the returned queryset loads those rows in one query, in rank order, without ids whose
  rows are gone. When the queryset itself is filtered, the store is asked for 3x and then
  10x ``limit`` candidates until ``limit`` rows pass the filters (so fewer than ``limit``
  rows come back only when the store has no more).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from django.core import exceptions
from django.db import connections, models, transaction
from django.db.models import Case, Field, FloatField, IntegerField, Q, Value, When
from django.db.models.query import ModelIterable
from django.db.models.sql import Query

from . import binding, filters, functions, statements, sync, validation
from .errors import NotFoundError, ValidationError
from .fields import VectorField, embed_sources, pk_from_vector_id, vector_fields, vector_id
from .instrumentation import instrument
from .metrics import distance_from_score
from .providers._pgsql import default_ef_search
from .types import Match, QueryResult

OVERFETCH = (3, 10)

# The output field of the query vector's Value: passes the parameter through untouched.
_PARAMETER = Field()
TRUE = Q(pk__isnull=False)
FALSE = Q(pk__in=[])


class VectorQuerySet(models.QuerySet):
    """A QuerySet with ``vector_search`` and bulk writes that keep provider indexes in sync."""

    _vector_search: dict[str, Any] | None = None
    _pending_search: _PendingSearch | None = None

    @property
    def query(self) -> Query:
        """The queryset's ``Query``; a pending search (see :mod:`.statements`) is built
        into it first, so anything that reads or chains the query sees the whole search."""
        pending = self._pending_search
        if pending is not None:
            self._pending_search = None
            self._query = pending.build(self)._query
        return super().query

    @query.setter
    def query(self, value: Query) -> None:
        self._pending_search = None
        models.QuerySet.query.fset(self, value)  # type: ignore[attr-defined]

    def __getstate__(self) -> dict[str, Any]:
        self.query  # noqa: B018 - a pending search holds a closure: build it before pickling
        return super().__getstate__()

    def _clone(self) -> VectorQuerySet:
        clone = super()._clone()
        clone._vector_search = self._vector_search
        return clone

    # -- search -----------------------------------------------------------------------------

    def vector_search(
        self,
        vector: Any,
        limit: int = 10,
        filter: dict[str, Any] | None = None,
        score_threshold: float | None = None,
        field: str | None = None,
        namespace: str | None = None,
        load_records: bool = True,
        include_values: bool = False,
    ) -> VectorQuerySet | QueryResult:
        """The ``limit`` rows nearest ``vector``, best first, each with ``vector_score``
        (higher is better) and ``vector_distance``; a :class:`QueryResult` of
        ``f"{db_table}_{pk}"`` ids when ``load_records=False``.

        Like the client's ``query()``, results leave the vector columns unloaded (deferred)
        unless ``include_values=True``: a search rarely needs them, and they are most of
        the bytes a row carries.
        """
        return self._search(
            vector,
            limit,
            filter,
            score_threshold,
            field,
            namespace,
            load_records,
            None,
            include_values,
        )

    def _search(
        self,
        vector: Any,
        limit: int,
        filter: Any,
        score_threshold: Any,
        field: str | None,
        namespace: str | None,
        load_records: bool,
        exclude: Any,
        include_values: bool = False,
    ) -> VectorQuerySet | QueryResult:
        vf = self._vector_field(field)
        if vector is None:
            raise ValidationError("vector_search needs a vector, got None.")
        values = vf.coerce(vector)
        limit = validation.top_k(limit)
        threshold = validation.score_threshold(score_threshold)
        node = filters.parse(filter)
        if vf.is_inline(self.db):
            if namespace is not None:
                raise ValidationError(
                    f"namespace= applies to provider indexes; {vf.model._meta.label}.{vf.name} "
                    "is searched in place on its own table (filter the queryset instead)."
                )
            return self._inline(
                vf, values, limit, node, threshold, load_records, exclude, include_values
            )
        qs = self if include_values else self._without_vectors()
        return qs._remote(vf, values, limit, node, threshold, namespace, load_records, exclude)

    def _without_vectors(self) -> VectorQuerySet:
        """The same rows with every vector column deferred (left alone after ``values()``)."""
        if self._fields is not None:
            return self
        return self.defer(*[f.name for f in vector_fields(self.model)])

    def _vector_field(self, name: str | None) -> VectorField:
        fields = vector_fields(self.model)
        if not fields:
            raise ValidationError(f"{self.model._meta.label} has no VectorField.")
        if name is None:
            return fields[0]
        for vf in fields:
            if name in (vf.name, vf.attname):
                return vf
        raise ValidationError(
            f"{self.model._meta.label} has no VectorField {name!r}; "
            f"its vector fields are {[f.name for f in fields]}."
        )

    def _inline(
        self,
        vf: VectorField,
        values: list[float],
        limit: int,
        node: Any,
        threshold: float | None,
        load_records: bool,
        exclude: Any,
        include_values: bool,
    ) -> VectorQuerySet | QueryResult:
        vector = binding.parameter(connections[self.db], values)

        def build(base: VectorQuerySet) -> VectorQuerySet:
            qs = base if exclude is None else base.exclude(pk=exclude)
            if load_records and not include_values:
                qs = qs._without_vectors()
            if node is not None:
                qs = qs._apply_q(compile_q(self.model, node))
            if vf.null:  # a NOT NULL column needs no filter (and its query stays simpler)
                qs = qs.filter(**{f"{vf.name}__isnull": False})
            distance = functions.distance(
                vf.metric, vf.name, Value(vector, output_field=_PARAMETER)
            )
            qs = qs.annotate(
                vector_distance=distance,
                vector_score=functions.score(vf.metric, "vector_distance"),
            )
            if threshold is not None:
                bound = distance_from_score(vf.metric, threshold)
                if not math.isinf(bound):
                    qs = qs.filter(vector_distance__lte=bound)
            return qs.order_by("vector_distance")[:limit]

        filtered = bool(self.query.where) or any(
            condition is not None for condition in (node, threshold, exclude)
        )
        options = {
            "ef_search": default_ef_search(limit, filtered),
            "iterative": filtered,
            "index": vf.index or vf.model._meta.db_table,
            "limit": limit,
        }
        # Searches on the model's plain queryset are compiled once per shape (see
        # vectra_django.statements); the filter's repr tells 1, 1.0 and True apart.
        plain = statements.is_plain(self)
        shape = (self.model, vf.name, limit, repr(node), threshold, exclude is not None)
        excluded = None if exclude is None else _pk_db_value(self.model, exclude, self.db)
        if not load_records:

            def build_values(base: VectorQuerySet) -> Any:
                return build(base).values_list("pk", "vector_distance", "vector_score")

            key = (*shape, "ids")
            statement = plain and statements.compiled(
                self.db, key, lambda: build_values(self), vector, excluded
            )
            if statement:
                fetch = functools.partial(statement.rows, self.db, vector, excluded)
            else:
                values_qs = build_values(self)
                fetch = lambda: list(values_qs)  # noqa: E731
            rows = run_search(self.db, options, fetch)
            matches = [Match(vector_id(vf.model, pk), float(s), float(d)) for pk, d, s in rows]
            return QueryResult(matches, index=options["index"])
        key = (*shape, include_values)
        if plain and statements.compiled(self.db, key, lambda: build(self), vector, excluded):
            # Built only if the queryset is chained or inspected (see VectorQuerySet.query).
            qs = self._chain()
            qs._pending_search = _PendingSearch(build, key, vector, excluded)
        else:
            qs = build(self)
        if qs._iterable_class is ModelIterable:
            qs._iterable_class = VectorSearchIterable
        qs._vector_search = options
        return qs

    def _apply_q(self, q: Q) -> VectorQuerySet:
        try:
            return self.filter(q)
        except ValidationError:
            raise
        except (exceptions.ValidationError, ValueError, TypeError) as exc:
            raise ValidationError(f"filter= does not fit the model's fields: {exc}") from exc

    def _remote(
        self,
        vf: VectorField,
        values: list[float],
        limit: int,
        node: Any,
        threshold: float | None,
        namespace: str | None,
        load_records: bool,
        exclude: Any,
    ) -> VectorQuerySet | QueryResult:
        unknown = sorted(filters.keys(node) - set(vf.metadata_fields))
        if unknown:
            raise ValidationError(
                f"Filter key {unknown[0]!r} is not a metadata field of "
                f"{vf.model._meta.label}.{vf.name}; declared: {list(vf.metadata_fields)}."
            )
        client = vf.client()
        ns = vf.namespace if namespace is None else namespace
        filtered = bool(self.query.where)
        want = limit + (exclude is not None)
        rounds = [min(validation.MAX_TOP_K, want * f) for f in OVERFETCH] if filtered else [want]
        with instrument(
            "search", client.provider_name, vf.index_name, ns, metadata={"top_k": limit}
        ) as details:
            for top_k in rounds:
                try:
                    result = client.query(
                        vf.index_name,
                        values,
                        top_k=top_k,
                        filter=node,
                        namespace=ns,
                        score_threshold=threshold,
                        include_metadata=False,
                    )
                except NotFoundError:
                    result = QueryResult([], index=vf.index_name)  # nothing synced yet
                hits = [
                    (pk, m)
                    for m in result
                    if (pk := pk_from_vector_id(vf.model, m.id)) is not None and pk != exclude
                ]
                if filtered:
                    found = set(
                        self.filter(pk__in=[pk for pk, _ in hits]).values_list("pk", flat=True)
                    )
                    hits = [(pk, m) for pk, m in hits if pk in found]
                if len(hits) >= limit or len(result) < top_k:
                    break
            hits = hits[:limit]
            details["result_count"] = len(hits)
        if not load_records:
            return QueryResult([m for _, m in hits], index=result.index, namespace=result.namespace)
        if not hits:
            return self.none()
        pks = [pk for pk, _ in hits]
        return (
            self.filter(pk__in=pks)
            .annotate(
                vector_score=_by_pk(hits, lambda m: m.score, FloatField()),
                vector_distance=_by_pk(hits, lambda m: m.distance, FloatField()),
            )
            .order_by(_by_pk([(pk, i) for i, pk in enumerate(pks)], lambda i: i, IntegerField()))
        )

    # -- bulk writes that bypass signals ------------------------------------------------------

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[models.Model]:
        """Django's ``bulk_create``, plus: computed vectors (``source=``) are embedded in
        batched calls first, and synced fields are written to their stores."""
        objs = list(objs)
        embed_sources(self.model, objs)  # batched: Django's pre_save would embed row by row
        created = super().bulk_create(objs, *args, **kwargs)
        if sync.synced_fields(self.model, self.db):
            sync.current().sync_objects(self.model, created, self.db)
        return created

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        """Django's ``bulk_update``, plus: when ``fields`` names a vector's source, the rows
        whose text changed are embedded in batched calls and the vector field is added to
        ``fields``; synced fields that changed are written to their stores."""
        objs = list(objs)
        fields = list(fields)
        fields += embed_sources(self.model, objs, fields)
        count = super().bulk_update(objs, fields, *args, **kwargs)
        touched = set(fields)
        synced = [f for f in sync.synced_fields(self.model, self.db) if f.sync_fields() & touched]
        if synced:
            sync.current().sync_objects(self.model, objs, self.db)
        return count

    def update(self, **kwargs: Any) -> int:
        """``QuerySet.update()``, then the updated rows' synced vectors are re-copied to
        their indexes (after commit). ``source=`` vectors are not recomputed: an update
        builds no instances, so save them or use ``bulk_update`` instead."""
        for vf in vector_fields(self.model):
            value = kwargs.get(vf.name, kwargs.get(vf.attname))
            if value is not None and not hasattr(value, "resolve_expression"):
                vf.coerce(value)  # fail before the transaction is touched
        touched = set(kwargs)
        synced = [f for f in sync.synced_fields(self.model, self.db) if f.sync_fields() & touched]
        if not synced:
            return super().update(**kwargs)
        with transaction.atomic(using=self.db, savepoint=False):
            pks = list(self.values_list("pk", flat=True))
            count = super().update(**kwargs)
            sync.sync_pks(self.model, pks, self.db)
        return count

    update.alters_data = True  # type: ignore[attr-defined]


class _PendingSearch(NamedTuple):
    """A plain search not built into its queryset yet: how to build it, the key of its
    compiled statement, its query vector and the primary key it leaves out (as a database
    value), if any."""

    build: Callable[[VectorQuerySet], VectorQuerySet]
    key: tuple[Any, ...]
    vector: binding.QueryVector
    excluded: Any


class VectorManager(models.Manager.from_queryset(VectorQuerySet)):  # type: ignore[misc]
    """The manager ``VectorMixin`` installs as ``objects``."""


class VectorSearchIterable(ModelIterable):
    """Runs an in-place search with its ``SET LOCAL`` settings, in one transaction."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        qs = self.queryset
        options = qs._vector_search
        if options is None:
            yield from super().__iter__()
            return
        pending = qs._pending_search
        statement = None if pending is None else statements.lookup(qs.db, pending.key)
        if statement is not None:
            fetch = functools.partial(statement.instances, qs.db, pending.vector, pending.excluded)
        else:  # compiles the queryset (building a pending search first)
            fetch = lambda: list(super(VectorSearchIterable, self).__iter__())  # noqa: E731
        rows = run_search(qs.db, options, fetch)
        if options["iterative"]:
            # relaxed_order may return neighbours slightly out of order
            rows.sort(key=lambda obj: obj.vector_distance)
        yield from rows


def run_search(using: str, options: dict[str, Any], fetch: Any) -> list[Any]:
    """Run ``fetch`` in a transaction whose first statement sets the search's settings.

    When the session's own settings already serve the search (no iterative scan, no
    prepared statements, ``hnsw.ef_search`` high enough) the query runs alone: one round
    trip instead of four.
    """
    connection = connections[using]
    with instrument(
        "search", "pgvector", options["index"], metadata={"top_k": options["limit"], "inline": True}
    ) as details:
        with binding.bound_parameters(connection):
            if binding.needs_settings(connection, options):
                rows = _run_with_settings(using, options, fetch)
            else:
                rows = fetch()
        details["result_count"] = len(rows)
    return rows


def _run_with_settings(using: str, options: dict[str, Any], fetch: Any) -> list[Any]:
    settings = [
        ("hnsw.ef_search", str(options["ef_search"])),
        ("plan_cache_mode", "force_custom_plan"),
    ]
    if options["iterative"]:
        settings += [
            ("hnsw.iterative_scan", "relaxed_order"),
            ("ivfflat.iterative_scan", "relaxed_order"),
        ]
    sql = "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in settings)
    params = [p for pair in settings for p in pair]
    with transaction.atomic(using=using):
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
        return fetch()


def _pk_db_value(model: type[models.Model], value: Any, using: str) -> Any:
    """``value`` as the parameter Django binds for ``pk=value`` (prepared, then adapted)."""
    pk = model._meta.pk
    return pk.get_db_prep_value(pk.get_prep_value(value), connections[using], prepared=True)


def _by_pk(pairs: list[tuple[Any, Any]], get: Any, output_field: Any) -> Case:
    return Case(
        *[When(pk=pk, then=Value(get(item))) for pk, item in pairs], output_field=output_field
    )


# -- the portable filter language over model fields ---------------------------------------------


def compile_q(model: type[models.Model], node: filters.Node | None) -> Q:
    """``node`` as a ``Q`` over ``model``'s concrete fields, with the portable semantics:
    a NULL column is a missing key, equality is type-aware, ranges compare numbers."""
    if node is None:
        return TRUE
    if isinstance(node, filters.And):
        q = TRUE
        for child in node.children:
            q &= compile_q(model, child)
        return q
    if isinstance(node, filters.Or):
        q = FALSE
        for child in node.children:
            q |= compile_q(model, child)
        return q
    field = _field(model, node.key)
    name, op, value = field.name, node.op, node.value
    kind = _kind(field)
    if op == "$exists":
        return Q(**{f"{name}__isnull": not value})
    if op in ("$eq", "$ne"):
        q = Q(**{name: value}) if _fits(kind, value) else FALSE
        return q if op == "$eq" else (~q if q is not FALSE else TRUE)
    if op in ("$in", "$nin"):
        fitting = [v for v in value if _fits(kind, v)]
        if op == "$in":
            return Q(**{f"{name}__in": fitting}) if fitting else FALSE
        return ~Q(**{f"{name}__in": fitting}) if fitting else TRUE
    if kind not in ("int", "number"):
        raise ValidationError(
            f"Filter on {node.key!r}: {op} compares numbers, but {model._meta.label}.{name} "
            f"is a {type(field).__name__}."
        )
    lookup, bound = _range(op, value, kind == "int")
    return Q(**{f"{name}__{lookup}": bound})


def _field(model: type[models.Model], key: str) -> Any:
    for field in model._meta.concrete_fields:
        if key in (field.name, field.attname) and not isinstance(field, VectorField):
            return field
    names = sorted(f.name for f in model._meta.concrete_fields if not isinstance(f, VectorField))
    raise ValidationError(
        f"Filter key {key!r} is not a field of {model._meta.label}; filter on one of {names}."
    )


def _kind(field: Any) -> str:
    target = getattr(field, "target_field", None) if field.is_relation else field
    if isinstance(target, models.BooleanField):
        return "bool"
    if isinstance(target, models.IntegerField):  # includes the auto fields
        return "int"
    if isinstance(target, models.FloatField | models.DecimalField):
        return "number"
    if isinstance(target, models.CharField | models.TextField):
        return "text"
    return "other"


def _fits(kind: str, value: Any) -> bool:
    """Whether ``value`` can equal a value of this column (``True`` never equals ``1``)."""
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("int", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return kind == "number" or float(value).is_integer()
    if kind == "text":
        return isinstance(value, str)
    return True


def _range(op: str, value: float, integer: bool) -> tuple[str, float]:
    lookup = op[1:]
    if not integer or float(value).is_integer():
        return lookup, value
    # Integer columns with a fractional bound: move to the equivalent integer bound.
    if op == "$gt":
        return "gt", math.floor(value)
    if op == "$gte":
        return "gte", math.ceil(value)
    if op == "$lt":
        return "lt", math.ceil(value)
    return "lte", math.floor(value)
