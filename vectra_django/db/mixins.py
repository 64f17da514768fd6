"""``VectorMixin``: vector search, ``similar()`` and manual index control for a model."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from ..client.results import QueryResult
from ..errors import ValidationError
from .fields import VectorField, embed_sources, source_vector_fields, vector_fields, vector_id
from .queryset import VectorManager, VectorQuerySet
from .sync import ops as sync


class VectorMixin(models.Model):
    """Adds ``objects.vector_search()``, ``similar()``, ``index_vector()`` and ``delete_vector()``.

    Put it first in the bases (``class Document(VectorMixin, models.Model)``) and give the
    model at least one :class:`~vectra_django.VectorField`.
    """

    objects = VectorManager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, also writing the vectors recomputed because ``update_fields`` changed their
        ``source`` (Django writes only the fields it is given)."""
        if not source_vector_fields(type(self)):
            super().save(*args, **kwargs)
            return
        # Django 5.2 still accepts (and warns about) save(force_insert, force_update, using,
        # update_fields): left positional, so that warning stays.
        positional = len(args) > 3
        update_fields = args[3] if positional else kwargs.get("update_fields")
        if update_fields is not None:
            update_fields = set(update_fields)  # it may be a one-shot iterator
            update_fields.update(embed_sources(type(self), [self], update_fields))
            if positional:
                args = (*args[:3], update_fields, *args[4:])
            else:
                kwargs["update_fields"] = update_fields
        elif deferred := self.get_deferred_fields():
            # Django saves the loaded fields only; a vector computed now is loaded by then.
            loaded = {f.attname for f in self._meta.concrete_fields} - deferred
            embed_sources(type(self), [self], loaded)
        super().save(*args, **kwargs)

    save.alters_data = True  # type: ignore[attr-defined]

    @property
    def vector_id(self) -> str:
        """This row's id in every index: ``f"{db_table}_{pk}"``."""
        return vector_id(self._vector_field(None).model, self.pk)

    def similar(
        self,
        limit: int = 5,
        filter: dict[str, Any] | None = None,
        field: str | None = None,
        include_values: bool = False,
    ) -> VectorQuerySet | QueryResult:
        """The rows nearest to this one (never this one), best first; vector columns are
        deferred unless ``include_values=True``, as in ``vector_search``."""
        vf = self._vector_field(field)
        values = getattr(self, vf.attname)
        if values is None:
            raise ValidationError(
                f"{self._meta.label} {self.pk!r} has no {vf.name} to compare with."
            )
        return self._search_queryset()._search(
            values, limit, filter, None, vf.name, None, True, self.pk, include_values
        )

    def index_vector(self, field: str | None = None) -> None:
        """Write this row's stored vector to its provider index now (a NULL vector, or a
        row gone, deletes it), in step with any sync of the same row.

        A no-op for fields searched in place, whose column is the index.
        """
        using = self._state.db or "default"
        fields = self._manual_fields(field, using)
        for label in sync.declaring_labels(fields):
            declared = [vf for vf in fields if vf.model._meta.label == label]
            with transaction.atomic(using=using):
                sync.sync_rows(using, declared[0].model, [self.pk], declared)

    def delete_vector(self, field: str | None = None) -> None:
        """Remove this row's vector from its provider index now (the row is untouched)."""
        using = self._state.db or "default"
        for vf in self._manual_fields(field, using):
            sync.write(sync.target(vf), [], None, [], [vector_id(vf.model, self.pk)])

    def _vector_field(self, name: str | None) -> VectorField:
        return self._search_queryset()._vector_field(name)

    def _manual_fields(self, name: str | None, using: str) -> list[VectorField]:
        if self.pk is None:
            raise ValidationError(f"Save the {self._meta.label} before indexing its vector.")
        candidates = [self._vector_field(name)] if name is not None else vector_fields(self)
        return [vf for vf in candidates if not vf.is_inline(using)]

    def _search_queryset(self) -> VectorQuerySet:
        qs = type(self)._default_manager.all()
        if not isinstance(qs, VectorQuerySet):
            qs = VectorQuerySet(model=type(self))
        return qs.using(self._state.db) if self._state.db else qs
