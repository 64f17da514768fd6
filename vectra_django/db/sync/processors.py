"""The sync strategies ``VECTRA_SYNC`` chooses between, and the signal handlers they share.

A processor turns each synced write into *keys*: the label of the model that declares a
synced field and a primary key. :meth:`BaseSyncProcessor.changed` then records the keys in
the outbox, in the writer's transaction, and the strategy decides who drains them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections, models, transaction
from django.db.models import Model, signals
from django.utils.module_loading import import_string

from ...errors import ConfigurationError
from ..fields import VectorField, vector_fields
from . import outbox
from .drain import drain, options
from .ops import declaring_labels, sync_rows, synced_fields

logger = logging.getLogger("vectra_django.sync")

STRATEGIES = {
    "on_commit": "vectra_django.db.sync.OnCommitSync",
    "task": "vectra_django.db.sync.TaskSync",
    "immediate": "vectra_django.db.sync.ImmediateSync",
}

# on_delete handlers that delete or forbid, and so never leave a changed row behind.
_NO_UPDATE = {models.CASCADE, models.PROTECT, models.RESTRICT, models.DO_NOTHING}
# Django 6.1+: the database deletes the rows itself, and no signal fires for them.
_DB_CASCADE = getattr(models, "DB_CASCADE", None)


class BaseSyncProcessor:
    """Turns saves and deletes into outbox entries; subclasses decide who drains them.

    ``setup()`` connects the model signals (with ``sender=``, only for models with a synced
    field, and for the targets of foreign keys whose deletion changes synced rows silently:
    see :func:`_silent_keys`) and ``teardown()`` disconnects them. Override :meth:`changed`.
    """

    def __init__(self) -> None:
        self.deleted = outbox.DeleteBuffer()
        # target model -> (foreign key, synced field) its deletion changes without signals
        self.silent_by: dict[type[Model], list[tuple[Any, VectorField]]] = {}

    def setup(self) -> None:
        for model, handlers in self._receivers():
            for signal, handler in handlers:
                signal.connect(handler, sender=model, dispatch_uid=self._uid(model))

    def teardown(self) -> None:
        for model, handlers in self._receivers():
            for signal, _ in handlers:
                signal.disconnect(sender=model, dispatch_uid=self._uid(model))

    def _uid(self, model: type[Model]) -> str:
        return f"vectra_django.sync.{id(self)}.{model._meta.label}"

    def _receivers(self) -> list[tuple[type[Model], list[tuple[Any, Any]]]]:
        synced = self.models()
        self.silent_by = {}
        for fk, vf in _silent_keys(synced):
            self.silent_by.setdefault(fk.remote_field.model, []).append((fk, vf))
        found = [
            (
                m,
                [
                    (signals.post_save, self.handle_save),
                    (signals.pre_delete, self.capture_delete),
                    (signals.post_delete, self.handle_delete),
                ],
            )
            for m in synced
        ]
        targets = set(self.silent_by) - set(synced)
        found += [
            (
                m,
                [
                    (signals.pre_delete, self.capture_delete),
                    (signals.post_delete, self.handle_delete),
                ],
            )
            for m in targets
        ]
        return found

    def models(self) -> list[type[Model]]:
        """Models with an ``auto_index`` vector field (whether it is remote is decided per
        write, since ``VECTRA`` may change at run time, e.g. under ``override_settings``)."""
        return [m for m in apps.get_models() if any(f.auto_index for f in vector_fields(m))]

    # -- signal handlers ------------------------------------------------------------------------

    def handle_save(
        self,
        sender: type[Model],
        instance: Model,
        update_fields: Any = None,
        using: str = "default",
        **kwargs: Any,
    ) -> None:
        fields = touched(sender, using, update_fields)
        if fields:
            self.changed(using, declaring_labels(fields), [instance.pk], "upsert")

    def capture_delete(
        self, sender: type[Model], instance: Model, using: str = "default", **kwargs: Any
    ) -> None:
        labels = declaring_labels(synced_fields(sender, using))
        if labels:
            self.deleted.add(using, sender, labels, instance.pk)
        for fk, vf in self.silent_by.get(sender, ()):
            if not vf.is_inline(using):  # rows the deletion is about to rewrite or delete
                rows = vf.model._base_manager.using(using).filter(**{fk.name: instance.pk})
                for pk in rows.values_list("pk", flat=True):
                    self.deleted.add(using, sender, [vf.model._meta.label], pk)

    def handle_delete(
        self, sender: type[Model], instance: Model, using: str = "default", **kwargs: Any
    ) -> None:
        for label, pks in self.deleted.take(using, sender).items():
            self.changed(using, [label], pks, "delete")

    def changed(self, using: str, labels: Sequence[str], pks: Sequence[Any], op: str) -> None:
        """The rows ``pks`` of the models ``labels`` changed on ``using`` (``op`` says how)."""
        raise NotImplementedError("Subclasses of BaseSyncProcessor must implement changed().")

    def changed_query(self, using: str, labels: Sequence[str], queryset: Any, op: str) -> None:
        """The rows ``queryset`` selects are about to change (``update()``, ``delete()``)."""
        self.changed(using, labels, list(queryset.values_list("pk", flat=True)), op)


class OutboxSync(BaseSyncProcessor):
    """Records keys in the outbox; :meth:`committed` runs once the transaction commits."""

    def changed(self, using: str, labels: Sequence[str], pks: Sequence[Any], op: str) -> None:
        self._after(using, outbox.record(using, labels, pks, op))

    def changed_query(self, using: str, labels: Sequence[str], queryset: Any, op: str) -> None:
        self._after(using, outbox.record_query(using, labels, queryset, op))

    def _after(self, using: str, ids: list[int]) -> None:
        if not ids:
            return
        if connections[using].in_atomic_block:
            outbox.defer(using, ids, self.committed)
        else:
            self.committed(using, ids)  # autocommit: the entries are committed already

    def committed(self, using: str, ids: list[int]) -> None:
        raise NotImplementedError


class OnCommitSync(OutboxSync):
    """Drains the transaction's entries right after it commits (the default).

    A failure is logged and reported and leaves the entries to be retried; it never
    raises from the commit, so the caller's other commit callbacks all run.
    """

    def committed(self, using: str, ids: list[int]) -> None:
        drain(using, ids, recover_after=options()["RECOVER_AFTER"])


class TaskSync(OutboxSync):
    """Hands the committed entries to a Django task (``vectra_django.db.sync.tasks``)."""

    def committed(self, using: str, ids: list[int]) -> None:
        from .tasks import drain_outbox

        try:
            drain_outbox.enqueue(using=using, ids=ids)
        except Exception:
            logger.exception(
                "Enqueueing the sync of %d outbox entries failed; they are kept and synced by "
                "the next drain (manage.py vectra_sync drains now).",
                len(ids),
            )


class ImmediateSync(BaseSyncProcessor):
    """Writes at once, inside the caller's transaction, without the outbox (for scripts and
    tests: a rollback leaves the store written, a store error raises from the save)."""

    def changed(self, using: str, labels: Sequence[str], pks: Sequence[Any], op: str) -> None:
        for label in labels:
            model = apps.get_model(label)
            fields = [f for f in synced_fields(model, using) if f.model is model]
            with transaction.atomic(using=using):
                sync_rows(using, model, list(pks), fields)


class SettingsSync(BaseSyncProcessor):
    """The processor the app installs: each change goes to the strategy ``VECTRA_SYNC``
    names (so ``override_settings`` just works)."""

    def changed(self, using: str, labels: Sequence[str], pks: Sequence[Any], op: str) -> None:
        current().changed(using, labels, pks, op)

    def changed_query(self, using: str, labels: Sequence[str], queryset: Any, op: str) -> None:
        current().changed_query(using, labels, queryset, op)


_instances: dict[str, BaseSyncProcessor] = {}


def current() -> BaseSyncProcessor:
    """The strategy named by ``VECTRA_SYNC`` now."""
    name = getattr(settings, "VECTRA_SYNC", "on_commit")
    path = STRATEGIES.get(name, name)
    if path not in _instances:
        try:
            cls = import_string(path)
        except ImportError as exc:
            raise ConfigurationError(
                f"VECTRA_SYNC = {name!r}: expected one of {sorted(STRATEGIES)} or a dotted path "
                f"to a BaseSyncProcessor subclass ({exc})."
            ) from exc
        _instances[path] = cls()
    return _instances[path]


def touched(model: type[Model], using: str, update_fields: Iterable[str] | None) -> list:
    """The synced fields of ``model`` that a write of ``update_fields`` (all when ``None``)
    can change."""
    fields = synced_fields(model, using)
    if update_fields is not None:
        names = set(update_fields)
        fields = [f for f in fields if f.sync_fields() & names]
    return fields


def sync_queryset(queryset: Any) -> None:
    """Re-sync every row of ``queryset`` (e.g. after a raw SQL change), per ``VECTRA_SYNC``."""
    fields = synced_fields(queryset.model, queryset.db)
    if fields:
        current().changed_query(queryset.db, declaring_labels(fields), queryset, "upsert")


def _silent_keys(synced: Iterable[type[Model]]) -> list[tuple[Any, VectorField]]:
    """(foreign key, synced field) pairs where deleting the key's target changes synced rows
    without their signals: ``SET_NULL``, ``SET_DEFAULT``, ``SET()`` (and Django 6.1's
    ``DB_SET_NULL``/``DB_SET_DEFAULT``) on a metadata key rewrite the key; ``DB_CASCADE`` on
    any key deletes the rows in the database."""
    pairs = []
    for model in synced:
        for vf in vector_fields(model):
            if vf.model is not model or not vf.auto_index:
                continue
            metadata = set(vf.metadata_fields)
            for fk in model._meta.concrete_fields:
                if not fk.many_to_one:
                    continue
                on_delete = fk.remote_field.on_delete
                in_metadata = fk.name in metadata or fk.attname in metadata
                if (on_delete is _DB_CASCADE and on_delete is not None) or (
                    in_metadata and on_delete not in _NO_UPDATE
                ):
                    pairs.append((fk, vf))
    return pairs
