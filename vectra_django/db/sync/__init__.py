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

from .ops import SyncOp, Target, apply, delete_op, plan, synced_fields
from .processors import (
    STRATEGIES,
    BaseSyncProcessor,
    ImmediateSync,
    OnCommitSync,
    SettingsSync,
    TaskSync,
    current,
    sync_pks,
    sync_queryset,
)

__all__ = [
    "STRATEGIES",
    "BaseSyncProcessor",
    "ImmediateSync",
    "OnCommitSync",
    "SettingsSync",
    "SyncOp",
    "Target",
    "TaskSync",
    "apply",
    "current",
    "delete_op",
    "plan",
    "sync_pks",
    "sync_queryset",
    "synced_fields",
]
