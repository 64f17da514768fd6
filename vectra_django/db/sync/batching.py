"""One batch of sync ops per transaction, flushed once after it commits."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from django.db import connections, transaction

from .ops import SyncOp


class TransactionBatch:
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


def batch_for(using: str, runner: Callable[[list[SyncOp]], None]) -> TransactionBatch:
    current: dict[tuple[str, Any], TransactionBatch] = _batches.__dict__.setdefault("by_key", {})
    key = (using, runner)
    batch = current.get(key)
    if batch is None or not batch.alive():
        batch = current[key] = TransactionBatch(using, runner)
    return batch
