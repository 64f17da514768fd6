"""Keeping provider indexes in step with the rows, through a transactional outbox.

Only fields whose vectors live in another store are synced: a pgvector field on the model's
own database *is* its index. Every synced write records an entry (model, primary key) in
``vectra_sync_outbox`` in its own transaction; a *drain* later reads each named row's current
state and writes it (or deletes the vector when the row or its vector is gone), then removes
the entry. ``VECTRA_SYNC`` (read on every write) picks who drains:

- ``"on_commit"`` (default): the committing process, right after the commit, one batch per
  transaction (:class:`OnCommitSync`);
- ``"task"``: a Django task enqueued on commit (:class:`TaskSync`);
- ``"immediate"``: no outbox; written inside the transaction (:class:`ImmediateSync`);
- a dotted path to a :class:`BaseSyncProcessor` subclass.

Whatever the strategy, ``manage.py vectra_sync`` drains what is left (entries of a crashed
process, failures waiting for their retry), and every drain takes over entries older than
``VECTRA_OUTBOX["RECOVER_AFTER"]`` seconds. See docs/sync.md.
"""

from __future__ import annotations

from .drain import DrainResult, drain
from .ops import Target, sync_rows, synced_fields
from .processors import (
    STRATEGIES,
    BaseSyncProcessor,
    ImmediateSync,
    OnCommitSync,
    OutboxSync,
    SettingsSync,
    TaskSync,
    current,
    sync_queryset,
    touched,
)

__all__ = [
    "STRATEGIES",
    "BaseSyncProcessor",
    "DrainResult",
    "ImmediateSync",
    "OnCommitSync",
    "OutboxSync",
    "SettingsSync",
    "Target",
    "TaskSync",
    "current",
    "drain",
    "sync_queryset",
    "sync_rows",
    "synced_fields",
    "touched",
]
