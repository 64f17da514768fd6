"""The admin actions "Re-embed selected" and "Re-sync selected".

Like Django's ``delete_selected``, each is a function of ``(modeladmin, request, queryset)``;
``VectorSearchAdmin`` offers both, on the field its ``get_vector_field()`` names. Each works
in batches of ``modeladmin.vector_batch_size`` rows and reports what it did with
``message_user``; a state it cannot work in is an error message, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext
from django.core.exceptions import ImproperlyConfigured
from django.db import models, router, transaction
from django.http import HttpRequest

from ..db.fields import VectorField
from ..db.queryset import VectorQuerySet, search_columns
from ..db.sync import sync_rows
from ..errors import ConfigurationError, VectraError

if TYPE_CHECKING:
    from .options import VectorSearchAdmin


@admin.action(description="Re-embed selected %(verbose_name_plural)s", permissions=["change"])
def reembed_selected(
    modeladmin: VectorSearchAdmin, request: HttpRequest, queryset: models.QuerySet
) -> None:
    """Compute the rows' vectors again from their source, even where the text did not change
    (a new embedder, a fixed one); the writes sync to the store like any other."""
    try:
        vf = modeladmin.get_vector_field()
        _check_reembed(vf)
    except (VectraError, ImproperlyConfigured) as exc:
        modeladmin.message_user(request, f"Nothing was re-embedded: {exc}", messages.ERROR)
        return
    model = modeladmin.model
    using = router.db_for_write(model)
    rows = VectorQuerySet(model=model, using=using).defer(*search_columns(model))
    embedded = cleared = 0
    try:
        for batch in _batches(_pks(queryset), modeladmin.vector_batch_size):
            objs = list(rows.filter(pk__in=batch))
            for obj in objs:
                setattr(obj, vf.attname, None)  # no vector: embedded whatever its text
            vf.embed(objs)  # batched embedder calls, outside the write's transaction
            with transaction.atomic(using=using):
                rows.bulk_update(objs, [vf.name])
            done = sum(getattr(obj, vf.attname) is not None for obj in objs)
            embedded, cleared = embedded + done, cleared + len(objs) - done
    except VectraError as exc:
        text = f"Re-embedding stopped after {embedded + cleared} rows: {exc}"
        modeladmin.message_user(request, text, messages.ERROR)
        return
    text = f"Re-embedded {embedded} {model_ngettext(modeladmin.opts, embedded)}."
    if cleared:
        text += f" {cleared} had no text to embed, so their vectors were cleared."
    modeladmin.message_user(request, text, messages.SUCCESS)


@admin.action(description="Re-sync selected %(verbose_name_plural)s", permissions=["change"])
def resync_selected(
    modeladmin: VectorSearchAdmin, request: HttpRequest, queryset: models.QuerySet
) -> None:
    """Write the rows' stored vectors to their store again now (after the store lost them,
    say); rows without a vector are removed from it. In place, the column is the index."""
    try:
        vf = modeladmin.get_vector_field()
    except ConfigurationError as exc:
        modeladmin.message_user(request, f"Nothing was re-synced: {exc}", messages.ERROR)
        return
    using = router.db_for_write(modeladmin.model)
    if vf.is_inline(using):
        text = f"Nothing to re-sync: {vf.label} is searched in place, its column is the index."
        modeladmin.message_user(request, text, messages.INFO)
        return
    upserted = deleted = 0
    try:
        for batch in _batches(_pks(queryset), modeladmin.vector_batch_size):
            with transaction.atomic(using=using):  # sync_rows locks the rows until its end
                up, gone = sync_rows(using, vf.model, batch, [vf])
            upserted, deleted = upserted + up, deleted + gone
    except VectraError as exc:
        text = f"Re-syncing stopped after {upserted + deleted} rows: {exc}"
        modeladmin.message_user(request, text, messages.ERROR)
        return
    count = upserted + deleted
    text = f"Re-synced {count} {model_ngettext(modeladmin.opts, count)} to {vf.index_name!r}."
    if deleted:
        text += f" {deleted} without a vector were removed from it."
    modeladmin.message_user(request, text, messages.SUCCESS)


def _check_reembed(vf: VectorField) -> None:
    """Refuse before any write: no source, no embedder, or vectors of another size."""
    if vf.source is None:
        raise ConfigurationError(
            f"{vf.label} has no source=: its vectors are assigned, not computed from text."
        )
    embedder = vf.get_embedder()
    if embedder.dimension != vf.dimensions:
        raise ConfigurationError(
            f"the embedder gives {embedder.dimension} dimensions and {vf.label} holds "
            f"{vf.dimensions}."
        )


def _pks(queryset: models.QuerySet) -> list[Any]:
    return list(queryset.order_by("pk").values_list("pk", flat=True))


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    size = max(1, size)
    for start in range(0, len(items), size):
        yield items[start : start + size]
