"""Keeping provider indexes in step with the rows, safely with respect to transactions.

Only fields whose vectors live in another store are synced: a pgvector field on the model's
own database *is* its index. ``VECTRA_SYNC`` (read on every save) picks how the work runs:

- ``"on_commit"`` (default): writes wait for the commit and go out batched, one upsert and
  one delete per index per transaction, the last write to an id winning. A rollback, or the
  rollback of a savepoint, leaves nothing behind. A failure after the commit is logged,
  reported as a ``sync_upsert``/``sync_delete`` event and raised from the commit (the row
  is committed, the index is not: run ``vectra_reindex``); transient errors are first
  retried by the client per the alias's ``MAX_RETRIES``.
- ``"task"``: the same batches, handed on commit to a Django task (``django.tasks`` or the
  ``django-tasks`` backport) that re-reads the rows, so requests never wait on the store.
- ``"immediate"``: written as the save happens, inside the transaction (a rollback then
  leaves the write in place); for scripts and tests.
- a dotted path to a :class:`BaseSyncProcessor` subclass.

``bulk_create``, ``bulk_update`` and ``QuerySet.update`` are covered by ``VectorQuerySet``;
``QuerySet.delete`` by the delete signals (connected per model, Django then deletes row by
row with ``pre_delete``/``post_delete``, and the id is captured before the row is gone).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from django.apps import apps
from django.conf import settings
from django.db import connections, transaction
from django.db.models import Model, signals
from django.utils.module_loading import import_string

from .errors import ConfigurationError, NotFoundError
from .fields import VectorField, vector_fields, vector_id
from .instrumentation import instrument

logger = logging.getLogger("vectra_django.sync")

STRATEGIES = {
    "on_commit": "vectra_django.sync.OnCommitSync",
    "task": "vectra_django.sync.TaskSync",
    "immediate": "vectra_django.sync.ImmediateSync",
}


@dataclass(frozen=True, slots=True)
class Target:
    """Where a vector goes: alias, index and namespace, plus the shape to create it with."""

    alias: str
    index: str
    namespace: str | None
    dimension: int
    metric: str


@dataclass(frozen=True, slots=True)
class SyncOp:
    """One pending write; ``values``/``metadata`` are captured when the row is saved."""

    action: str  # "upsert" | "delete"
    target: Target
    vector_id: str
    model: str
    field: str
    pk: Any
    using: str
    values: list[float] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def synced_fields(model: type[Model] | Model, using: str) -> list[VectorField]:
    """The model's vector fields copied to a provider index when rows on ``using`` change."""
    return [f for f in vector_fields(model) if f.auto_index and not f.is_inline(using)]


def target(vf: VectorField) -> Target:
    return Target(vf.provider, vf.index_name, vf.namespace, int(vf.dimensions), vf.metric)


def plan(vf: VectorField, instance: Model, using: str) -> SyncOp:
    """The write that brings ``instance``'s vector in ``vf``'s index up to date."""
    values = getattr(instance, vf.attname)
    common = {
        "target": target(vf),
        "vector_id": vector_id(vf.model, instance.pk),
        "model": vf.model._meta.label,
        "field": vf.name,
        "pk": instance.pk,
        "using": using,
    }
    if values is None:
        return SyncOp("delete", **common)
    return SyncOp("upsert", values=list(values), metadata=vf.metadata_for(instance), **common)


def delete_op(vf: VectorField, pk: Any, using: str) -> SyncOp:
    return SyncOp(
        "delete", target(vf), vector_id(vf.model, pk), vf.model._meta.label, vf.name, pk, using
    )


# -- writing -----------------------------------------------------------------------------


def latest(ops: Iterable[SyncOp]) -> list[SyncOp]:
    """``ops`` with only the last op per (index, namespace, id), in order."""
    last: dict[tuple[str, str, str | None, str], SyncOp] = {}
    for op in ops:
        key = (op.target.alias, op.target.index, op.target.namespace, op.vector_id)
        last.pop(key, None)
        last[key] = op
    return list(last.values())


def apply(ops: Iterable[SyncOp]) -> None:
    """Write ``ops`` now: per index one upsert and one delete; the last op per id wins."""
    groups: dict[Target, dict[str, list[SyncOp]]] = defaultdict(lambda: defaultdict(list))
    for op in latest(ops):
        groups[op.target][op.action].append(op)
    for tgt, by_action in groups.items():
        if by_action["upsert"]:
            _run("sync_upsert", tgt, by_action["upsert"], _upsert)
        if by_action["delete"]:
            _run("sync_delete", tgt, by_action["delete"], _delete)


def _run(operation: str, tgt: Target, ops: list[SyncOp], write: Callable[..., None]) -> None:
    from .connections import clients

    client = clients[tgt.alias]
    ids = [op.vector_id for op in ops]
    try:
        with instrument(
            operation,
            client.provider_name,
            tgt.index,
            tgt.namespace,
            metadata={"vector_count": len(ops)},
        ):
            write(client, tgt, ops)
    except Exception:
        logger.exception(
            "Vector %s of %d id(s) to %r (%s) failed, first id %r; the rows are saved, "
            "the index is behind: run manage.py vectra_reindex once the store is back.",
            operation,
            len(ids),
            tgt.index,
            tgt.alias,
            ids[0],
        )
        raise


def _upsert(client: Any, tgt: Target, ops: list[SyncOp]) -> None:
    kwargs = {
        "ids": [op.vector_id for op in ops],
        "values": np.asarray([op.values for op in ops], dtype=np.float32),
        "metadata": [op.metadata for op in ops],
        "namespace": tgt.namespace,
    }
    try:
        client.upsert(tgt.index, **kwargs)
    except NotFoundError:
        client.create_index(tgt.index, tgt.dimension, tgt.metric)
        client.upsert(tgt.index, **kwargs)


def _delete(client: Any, tgt: Target, ops: list[SyncOp]) -> None:
    try:
        client.delete(tgt.index, ids=[op.vector_id for op in ops], namespace=tgt.namespace)
    except NotFoundError:
        logger.debug("Index %r does not exist; nothing to delete.", tgt.index)


# -- batching per transaction --------------------------------------------------------------


class _Batch:
    """The ops of one transaction on one database, flushed once after it commits.

    Each op is confirmed by an ``on_commit`` guard registered in the op's own savepoint,
    so Django discards it with the savepoint; one flush entry is kept last in the
    connection's commit hooks so it runs after every guard.
    """

    def __init__(self, using: str, runner: Callable[[list[SyncOp]], None]) -> None:
        self.using = using
        self.runner = runner
        self.ops: list[tuple[frozenset[str], SyncOp]] = []
        self.guards: set[frozenset[str]] = set()
        self.confirmed: set[frozenset[str]] = set()
        self.done = False
        # Django's hook entries are (savepoint ids, callable, robust); an empty id set means
        # no savepoint rollback discards the flush, only a rollback of the whole transaction.
        self.entry = (set(), self.flush, False)

    def alive(self) -> bool:
        hooks = connections[self.using].run_on_commit
        return not self.done and any(h is self.entry for h in reversed(hooks))

    def add(self, ops: Sequence[SyncOp]) -> None:
        connection = connections[self.using]
        sids = frozenset(connection.savepoint_ids)
        if sids not in self.guards:
            self.guards.add(sids)
            transaction.on_commit(partial(self.confirmed.add, sids), using=self.using)
        self.ops.extend((sids, op) for op in ops)
        hooks = connection.run_on_commit
        if not hooks or hooks[-1] is not self.entry:
            hooks[:] = [h for h in hooks if h is not self.entry]
            hooks.append(self.entry)

    def flush(self) -> None:
        self.done = True
        ops = [op for sids, op in self.ops if sids in self.confirmed]
        if ops:
            self.runner(ops)


_batches = threading.local()


def _batch_for(using: str, runner: Callable[[list[SyncOp]], None]) -> _Batch:
    current: dict[tuple[str, Any], _Batch] = _batches.__dict__.setdefault("by_key", {})
    key = (using, runner)
    batch = current.get(key)
    if batch is None or not batch.alive():
        batch = current[key] = _Batch(using, runner)
    return batch


# -- processors ----------------------------------------------------------------------------


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
        _batch_for(using, apply).add(ops)


class TaskSync(BaseSyncProcessor):
    """Hands each committed batch to a Django task, which re-reads the rows."""

    def schedule(self, ops: list[SyncOp], using: str) -> None:
        if not connections[using].in_atomic_block:
            enqueue(ops)
            return
        _batch_for(using, enqueue).add(ops)


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
