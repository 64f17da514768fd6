"""The sync strategies ``VECTRA_SYNC`` chooses between, and the signal handlers they share."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.models import Model, signals
from django.utils.module_loading import import_string

from ...errors import ConfigurationError
from ..fields import vector_fields
from .batching import batch_for
from .ops import SyncOp, apply, delete_op, latest, plan, synced_fields

logger = logging.getLogger("vectra_django.sync")

STRATEGIES = {
    "on_commit": "vectra_django.db.sync.OnCommitSync",
    "task": "vectra_django.db.sync.TaskSync",
    "immediate": "vectra_django.db.sync.ImmediateSync",
}


class BaseSyncProcessor:
    """Turns saves and deletes into index writes; subclasses decide when they run.

    ``setup()`` connects the model signals (with ``sender=``, only for models with a
    synced field) and ``teardown()`` disconnects them. Override :meth:`schedule`.
    """

    def setup(self) -> None:
        for model in self.models():
            uid = f"vectra_django.sync.{id(self)}.{model._meta.label}"
            signals.post_save.connect(self.handle_save, sender=model, dispatch_uid=uid)
            signals.pre_delete.connect(self.capture_delete, sender=model, dispatch_uid=uid)
            signals.post_delete.connect(self.handle_delete, sender=model, dispatch_uid=uid)

    def teardown(self) -> None:
        for model in self.models():
            uid = f"vectra_django.sync.{id(self)}.{model._meta.label}"
            signals.post_save.disconnect(sender=model, dispatch_uid=uid)
            signals.pre_delete.disconnect(sender=model, dispatch_uid=uid)
            signals.post_delete.disconnect(sender=model, dispatch_uid=uid)

    def models(self) -> list[type[Model]]:
        """Models with an ``auto_index`` vector field (whether it is remote is decided per
        save, since ``VECTRA`` may change at run time, e.g. under ``override_settings``)."""
        return [m for m in apps.get_models() if any(f.auto_index for f in vector_fields(m))]

    def handle_save(
        self,
        sender: type[Model],
        instance: Model,
        update_fields: Any = None,
        using: str = "default",
        **kwargs: Any,
    ) -> None:
        fields = synced_fields(sender, using)
        if update_fields is not None:
            touched = set(update_fields)
            fields = [f for f in fields if f.sync_fields() & touched]
        if fields:
            self.schedule([plan(f, instance, using) for f in fields], using)

    def capture_delete(
        self, sender: type[Model], instance: Model, using: str = "default", **kwargs: Any
    ) -> None:
        ops = [delete_op(f, instance.pk, using) for f in synced_fields(sender, using)]
        instance.__dict__["_vectra_delete_ops"] = ops

    def handle_delete(
        self, sender: type[Model], instance: Model, using: str = "default", **kwargs: Any
    ) -> None:
        ops = instance.__dict__.pop("_vectra_delete_ops", None)
        if ops is None and instance.pk is not None:
            ops = [delete_op(f, instance.pk, using) for f in synced_fields(sender, using)]
        if ops:
            self.schedule(ops, using)

    def sync_objects(self, model: type[Model], objs: Iterable[Model], using: str) -> None:
        """Schedule the writes for rows changed behind the signals' back (bulk operations)."""
        fields = synced_fields(model, using)
        ops = [plan(f, obj, using) for obj in objs if obj.pk is not None for f in fields]
        if ops:
            self.schedule(ops, using)

    def schedule(self, ops: list[SyncOp], using: str) -> None:
        raise NotImplementedError("Subclasses of BaseSyncProcessor must implement schedule().")


class ImmediateSync(BaseSyncProcessor):
    """Writes at once, inside the caller's transaction."""

    def schedule(self, ops: list[SyncOp], using: str) -> None:
        apply(ops)


class OnCommitSync(BaseSyncProcessor):
    """Writes after the commit, one batch per transaction (the default)."""

    def schedule(self, ops: list[SyncOp], using: str) -> None:
        if not connections[using].in_atomic_block:
            apply(ops)  # autocommit: the row is already committed
            return
        batch_for(using, apply).add(ops)


class TaskSync(BaseSyncProcessor):
    """Hands each committed batch to a Django task, which re-reads the rows."""

    def schedule(self, ops: list[SyncOp], using: str) -> None:
        if not connections[using].in_atomic_block:
            enqueue(ops)
            return
        batch_for(using, enqueue).add(ops)


def enqueue(ops: list[SyncOp]) -> None:
    from .tasks import sync_vectors

    ops = latest(ops)
    upserts = sorted(
        {(op.model, op.field, op.using, str(op.pk)) for op in ops if op.action == "upsert"}
    )
    deletes = [
        [op.target.alias, op.target.index, op.target.namespace, op.vector_id]
        for op in ops
        if op.action == "delete"
    ]
    try:
        sync_vectors.enqueue(upserts=[list(u) for u in upserts], deletes=deletes)
    except Exception:
        logger.exception("Enqueueing a vector sync task for %d op(s) failed.", len(ops))
        raise


class SettingsSync(BaseSyncProcessor):
    """The processor the app installs: each batch goes to the strategy ``VECTRA_SYNC`` names."""

    def schedule(self, ops: list[SyncOp], using: str) -> None:
        current().schedule(ops, using)


_instances: dict[str, BaseSyncProcessor] = {}


def current() -> BaseSyncProcessor:
    """The strategy named by ``VECTRA_SYNC`` now (so ``override_settings`` just works)."""
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


def sync_queryset(queryset: Any) -> None:
    """Re-sync every row of ``queryset`` (e.g. after a raw SQL change), per ``VECTRA_SYNC``."""
    using = queryset.db
    processor = current()
    for chunk in _chunks(queryset.iterator(chunk_size=1000), 1000):
        processor.sync_objects(queryset.model, chunk, using)


def sync_pks(model: type[Model], pks: Sequence[Any], using: str) -> None:
    """Re-read rows by primary key and schedule their writes (``QuerySet.update``)."""
    processor = current()
    for start in range(0, len(pks), 1000):
        rows = model._base_manager.using(using).filter(pk__in=pks[start : start + 1000])
        processor.sync_objects(model, list(rows), using)


def _chunks(items: Iterable[Model], size: int) -> Iterable[list[Model]]:
    chunk: list[Model] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
