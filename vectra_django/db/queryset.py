"""``VectorQuerySet``: ``vector_search`` on any queryset, and bulk writes that stay in sync.

A search runs in place (:mod:`.search.inplace`) when the field's store is pgvector on the
queryset's database, and through the store's index (:mod:`.search.remote`) otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core import exceptions
from django.db import models, transaction
from django.db.models import Max, Q
from django.db.models.fields import AutoFieldMixin
from django.db.models.sql import Query

from ..client import filters, validation
from ..client import text as checks
from ..client.distance import check_query_vector
from ..errors import ValidationError
from . import sync
from .bulk import deferred_indexes
from .fields import VectorField, embed_sources, vector_fields
from .search import keywords, remote
from .search.inplace import inplace_search
from .sync.ops import declaring_labels
from .text import search_column

if TYPE_CHECKING:
    from ..client.results import QueryResult
    from .search.inplace import PendingSearch


class VectorQuerySet(models.QuerySet):
    """A QuerySet with ``vector_search`` and bulk writes that keep provider indexes in sync."""

    _vector_search: dict[str, Any] | None = None
    _keyword_search: tuple[str, str, int] | None = None
    _pending_search: PendingSearch | None = None

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
        clone._keyword_search = self._keyword_search
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
        candidates: int | None = None,
    ) -> VectorQuerySet | QueryResult:
        """The ``limit`` rows nearest ``vector``, best first, each with ``vector_score``
        (higher is better) and ``vector_distance``; a :class:`QueryResult` of
        ``f"{db_table}_{pk}"`` ids when ``load_records=False``.

        ``candidates`` (a field with ``quantization="binary"``, searched in place): how
        many rows the sign-bit index proposes for exact re-ranking (default 10 x ``limit``);
        more costs time and gives recall.

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
            candidates,
        )

    def text_search(
        self,
        text: str,
        limit: int = 10,
        field: str | None = None,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
        load_records: bool = True,
    ) -> VectorQuerySet | QueryResult:
        """The ``limit`` rows whose text best matches ``text`` (every word, web-search
        syntax: ``"a phrase"``, ``or``, ``-word``), best first, each with ``text_score``.

        Reads the field's ``text_search`` column in place (through its GIN index), or the
        store's keyword search for a synced field.
        """
        vf = self._vector_field(field)
        text = checks.query_text(text)
        limit = validation.top_k(limit, name="limit")
        node = filters.parse(filter)
        if vf.is_inline(self.db):
            self._no_namespace(vf, namespace)
            return keywords.inplace_text_search(self, vf, text, limit, node)
        return remote.remote_text_search(
            self._without_vectors(), vf, text, limit, node, namespace, load_records
        )

    def hybrid_search(
        self,
        text: str,
        limit: int = 10,
        vector: Any = None,
        field: str | None = None,
        weights: tuple[float, float] = (1.0, 1.0),
        rrf_k: int = checks.RRF_K,
        candidates: int | None = None,
        filter: dict[str, Any] | None = None,
        namespace: str | None = None,
        load_records: bool = True,
    ) -> VectorQuerySet | QueryResult:
        """Keyword and vector search fused by Reciprocal Rank Fusion: each leg ranks
        ``candidates`` rows (at least 20 and ``limit``), a row scores the sum of ``weight /
        (rrf_k + rank)`` over the legs that found it. ``weights`` are (vector, text).

        Each row carries ``hybrid_score``, ``vector_score``, ``vector_distance`` and
        ``text_score`` (``None`` for a leg that did not return it). Without ``vector`` the
        field's embedder embeds ``text``. One statement in place; the store's own hybrid
        search for a synced field.
        """
        vf = self._vector_field(field)
        text = checks.query_text(text)
        limit = validation.top_k(limit, name="limit")
        legs = _weights(weights)
        rrf_k = checks.rrf_k(rrf_k)
        candidates = checks.candidates(candidates, limit)
        node = filters.parse(filter)
        values = None
        if legs[0] > 0 and vector is not None:
            values = vf.coerce(vector)
            check_query_vector(vf.metric, values)
        elif legs[0] > 0:
            values = _embed(vf, text)
            if not any(values):  # nothing the embedder knows (punctuation): no direction
                legs, values = (0.0, legs[1]), None
        if vf.is_inline(self.db):
            self._no_namespace(vf, namespace)
            return keywords.inplace_hybrid_search(
                self, vf, text, values, limit, node, legs, rrf_k, candidates
            )
        return remote.remote_hybrid_search(
            self._without_vectors(),
            vf,
            text,
            values,
            limit,
            node,
            namespace,
            load_records,
            legs,
            rrf_k,
            candidates,
        )

    def _no_namespace(self, vf: VectorField, namespace: str | None) -> None:
        if namespace is not None:
            raise ValidationError(
                f"namespace= applies to provider indexes; {vf.model._meta.label}.{vf.name} "
                "is searched in place on its own table (filter the queryset instead)."
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
        candidates: int | None = None,
    ) -> VectorQuerySet | QueryResult:
        vf = self._vector_field(field)
        if vector is None:
            raise ValidationError("vector_search needs a vector, got None.")
        values = vf.coerce(vector)
        check_query_vector(vf.metric, values)
        if candidates is not None and not (vf.quantization == "binary" and vf.is_inline(self.db)):
            raise ValidationError(
                f"candidates= applies to fields with quantization='binary' searched in place; "
                f"{vf.label} is not one (for a store's index, pass it to client.query)."
            )
        limit = validation.top_k(limit, name="limit")
        threshold = validation.score_threshold(score_threshold)
        node = filters.parse(filter)
        if candidates is not None:
            candidates = validation.integer("candidates", candidates, limit, validation.MAX_TOP_K)
        if vf.is_inline(self.db):
            self._no_namespace(vf, namespace)
            return inplace_search(
                self,
                vf,
                values,
                limit,
                node,
                threshold,
                load_records,
                exclude,
                include_values,
                candidates,
            )
        qs = self if include_values else self._without_vectors()
        return remote.remote_search(
            qs, vf, values, limit, node, threshold, namespace, load_records, exclude
        )

    def _without_vectors(self) -> VectorQuerySet:
        """The same rows with every vector column, and every keyword column of one, deferred
        (left alone after ``values()``)."""
        if self._fields is not None:
            return self
        return self.defer(*search_columns(self.model))

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

    def _apply_q(self, q: Q) -> VectorQuerySet:
        try:
            return self.filter(q)
        except ValidationError:
            raise
        except (exceptions.ValidationError, ValueError, TypeError) as exc:
            raise ValidationError(f"filter= does not fit the model's fields: {exc}") from exc

    # -- bulk writes that bypass signals ------------------------------------------------------

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[models.Model]:
        """Django's ``bulk_create``, plus: computed vectors (``source=``) are embedded in
        batched calls first, and the rows written are recorded for sync in the same
        transaction (their stored state is what gets synced, so with ``ignore_conflicts`` a
        conflicting row keeps its vector, and with ``update_conflicts`` only the columns
        actually updated reach the store)."""
        objs = list(objs)
        embed_sources(self.model, objs)  # batched: Django's pre_save would embed row by row
        # Many rows into a table that holds few: its vector indexes are built afterwards.
        with deferred_indexes(self.model, self.db, rows=len(objs)):
            return self._bulk_create(objs, *args, **kwargs)

    def _bulk_create(self, objs: list[models.Model], *args: Any, **kwargs: Any) -> Any:
        fields = sync.synced_fields(self.model, self.db)
        if not fields:
            return super().bulk_create(objs, *args, **kwargs)
        labels = declaring_labels(fields)
        base = self.model._base_manager.using(self.db)
        auto = isinstance(self.model._meta.pk, AutoFieldMixin)
        blind = kwargs.get("ignore_conflicts") and any(obj.pk is None for obj in objs)
        # PostgreSQL returns no keys with ignore_conflicts: find the inserted rows another way.
        lookup = _lookup_q(self.model, objs) if blind and not auto else None
        with transaction.atomic(using=self.db, savepoint=False):
            # Sequence values only grow: each row inserted now gets a key above the largest
            # seen before (a concurrent insert caught with them only costs a re-read).
            before = base.aggregate(m=Max("pk"))["m"] if blind and auto else None
            created = super().bulk_create(objs, *args, **kwargs)
            processor = sync.current()
            if blind:
                if lookup is not None:
                    inserted = base.filter(lookup)
                else:
                    inserted = base if before is None else base.filter(pk__gt=before)
                processor.changed_query(self.db, labels, inserted, "upsert")
            pks = [obj.pk for obj in created if obj.pk is not None]
            processor.changed(self.db, labels, pks, "upsert")
        return created

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        """Django's ``bulk_update``, plus: when ``fields`` names a vector's source, the rows
        whose text changed are embedded in batched calls and the vector field is added to
        ``fields``; rows whose synced fields are among ``fields`` are recorded for sync."""
        objs = list(objs)
        fields = list(fields)
        fields += embed_sources(self.model, objs, fields)
        synced = sync.touched(self.model, self.db, fields)
        if not synced:
            return super().bulk_update(objs, fields, *args, **kwargs)
        with transaction.atomic(using=self.db, savepoint=False):
            count = super().bulk_update(objs, fields, *args, **kwargs)
            sync.current().changed(
                self.db, declaring_labels(synced), [o.pk for o in objs], "upsert"
            )
        return count

    def update(self, **kwargs: Any) -> int:
        """``QuerySet.update()``, and the updated rows are recorded for sync when a synced
        vector or metadata field is set. ``source=`` vectors are not recomputed: an update
        builds no instances, so save them or use ``bulk_update`` instead."""
        for vf in vector_fields(self.model):
            value = kwargs.get(vf.name, kwargs.get(vf.attname))
            if value is not None and not hasattr(value, "resolve_expression"):
                vf.coerce(value)  # fail before the transaction is touched
        synced = sync.touched(self.model, self.db, kwargs)
        if not synced:
            return super().update(**kwargs)
        with transaction.atomic(using=self.db, savepoint=False):
            pks = list(self.values_list("pk", flat=True))  # before: update() may unmatch them
            count = super().update(**kwargs)
            sync.current().changed(self.db, declaring_labels(synced), pks, "upsert")
        return count

    update.alters_data = True  # type: ignore[attr-defined]


def search_columns(model: type[models.Model]) -> list[str]:
    """The model's vector fields and their ``tsvector`` columns: what a search result leaves
    unloaded unless asked (a search rarely needs them, and they are most of a row's bytes)."""
    names = []
    for vf in vector_fields(model):
        names.append(vf.name)
        column = search_column(vf)
        if column is not None:
            names.append(column)
    return names


def _weights(value: Any) -> tuple[float, float]:
    """``weights`` as (vector, text): two numbers, zero or more, not both zero."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValidationError(f"weights must be a pair (vector, text), got {value!r}.")
    legs = (checks.weight(value[0], "weights[0]"), checks.weight(value[1], "weights[1]"))
    if legs == (0.0, 0.0):
        raise ValidationError("weights (0, 0) leave nothing to rank; give one leg a weight.")
    return legs


def _embed(vf: VectorField, text: str) -> list[float]:
    """``text`` embedded by the field's embedder, for the vector leg of a hybrid search."""
    if vf.embedder is None:
        raise ValidationError(
            f"hybrid_search on {vf.label} needs vector=: the field has no embedder= to "
            "embed the text with."
        )
    values = vf.coerce(vf.get_embedder().embed([text])[0])
    assert values is not None
    return values


def _lookup_q(model: type[models.Model], objs: list[models.Model]) -> Q:
    """A filter matching ``objs`` by the first unique field or constraint they all fill,
    for rows inserted with ``ignore_conflicts`` under a key the database generates."""
    candidates = [(f.attname,) for f in model._meta.concrete_fields if f.unique]
    candidates += [
        tuple(model._meta.get_field(n).attname for n in c.fields)
        for c in model._meta.total_unique_constraints
    ]
    candidates += [
        tuple(model._meta.get_field(n).attname for n in names)
        for names in model._meta.unique_together
    ]
    for names in candidates:
        rows = [tuple(getattr(o, n) for n in names) for o in objs]
        if all(None not in row for row in rows):
            q = Q(pk__in=[])
            for row in rows:
                q |= Q(**dict(zip(names, row, strict=True)))
            return q
    raise ValidationError(
        f"bulk_create(ignore_conflicts=True) on {model._meta.label}: the new rows' keys are "
        "generated by the database and no unique field identifies them, so they cannot be "
        "synced. Set the primary keys in Python, or fill a unique field."
    )


class VectorManager(models.Manager.from_queryset(VectorQuerySet)):  # type: ignore[misc]
    """The manager ``VectorMixin`` installs as ``objects``."""
