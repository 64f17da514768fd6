"""``VectorQuerySet``: ``vector_search`` on any queryset, and bulk writes that stay in sync.

A search runs in place (:mod:`.search.inplace`) when the field's store is pgvector on the
queryset's database, and through the store's index (:mod:`.search.remote`) otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core import exceptions
from django.db import models, transaction
from django.db.models import Q
from django.db.models.sql import Query

from ..client import filters, validation
from ..errors import ValidationError
from . import sync
from .fields import VectorField, embed_sources, vector_fields
from .search.inplace import inplace_search
from .search.remote import remote_search

if TYPE_CHECKING:
    from ..client.results import QueryResult
    from .search.inplace import PendingSearch


class VectorQuerySet(models.QuerySet):
    """A QuerySet with ``vector_search`` and bulk writes that keep provider indexes in sync."""

    _vector_search: dict[str, Any] | None = None
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
            return inplace_search(
                self, vf, values, limit, node, threshold, load_records, exclude, include_values
            )
        qs = self if include_values else self._without_vectors()
        return remote_search(
            qs, vf, values, limit, node, threshold, namespace, load_records, exclude
        )

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


class VectorManager(models.Manager.from_queryset(VectorQuerySet)):  # type: ignore[misc]
    """The manager ``VectorMixin`` installs as ``objects``."""
