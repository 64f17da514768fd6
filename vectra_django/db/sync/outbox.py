"""Recording synced writes in the outbox, in the writer's own transaction.

Every write path (``save``, ``delete``, the bulk operations, ``SET_NULL`` cascades) ends here
with the labels of the models that declare the synced fields and the primary keys that
changed. The rows land in ``vectra_sync_outbox`` in the same transaction as the change, so
a rollback (of the transaction or of a savepoint) takes them away too, and a crash after the
commit leaves them for the next drain.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connections

from ...errors import ConfigurationError
from ...models import SyncEntry

_TABLE = SyncEntry._meta.db_table

_INSERT_KEYS = """
INSERT INTO {table} (model, object_pk, op)
SELECT l, k, %s FROM unnest(%s::text[]) AS l CROSS JOIN unnest(%s::text[]) AS k
RETURNING id
"""

_INSERT_SELECTED = """
INSERT INTO {table} (model, object_pk, op)
SELECT l, q.pk::text, %s FROM ({query}) AS q(pk) CROSS JOIN unnest(%s::text[]) AS l
RETURNING id
"""


def _table(using: str) -> str:
    """The outbox table's quoted name on ``using``, which must be PostgreSQL."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise ConfigurationError(
            f"The sync outbox needs PostgreSQL, and the database {using!r} is "
            f'{connection.vendor}: set VECTRA_SYNC = "immediate" to sync models stored '
            "there (written inside the save, without the outbox's guarantees)."
        )
    return connection.ops.quote_name(_TABLE)


def record(using: str, labels: Sequence[str], pks: Iterable[Any], op: str) -> list[int]:
    """Add an entry per label and primary key; returns the new entry ids."""
    keys = [str(pk) for pk in dict.fromkeys(pks) if pk is not None]
    if not keys or not labels:
        return []
    with connections[using].cursor() as cursor:
        cursor.execute(_INSERT_KEYS.format(table=_table(using)), [op, list(labels), keys])
        return [row[0] for row in cursor.fetchall()]


def record_query(using: str, labels: Sequence[str], queryset: Any, op: str) -> list[int]:
    """Add an entry per label and per primary key ``queryset`` selects, in one statement
    (``QuerySet.update()`` and ``delete()`` never bring the rows to Python)."""
    from django.core.exceptions import EmptyResultSet

    try:
        sql, params = queryset.values("pk").query.get_compiler(using=using).as_sql()
    except EmptyResultSet:
        return []
    with connections[using].cursor() as cursor:
        statement = _INSERT_SELECTED.format(table=_table(using), query=sql)
        cursor.execute(statement, [op, *params, list(labels)])
        return [row[0] for row in cursor.fetchall()]


class Pending:
    """The entry ids one transaction recorded, drained (or handed on) once it commits.

    One commit hook per transaction, registered with no savepoint ids so that only a
    rollback of the whole transaction discards it (entries of a rolled-back savepoint are
    gone from the table and simply not found), and ``robust``: a store that is down never
    keeps the commit's other callbacks from running.
    """

    def __init__(self, using: str, after_commit: Callable[[str, list[int]], None]) -> None:
        self.using = using
        self.after_commit = after_commit
        self.ids: list[int] = []
        self.entry = (set(), self.run, True)
        connections[using].run_on_commit.append(self.entry)

    def alive(self) -> bool:
        hooks = connections[self.using].run_on_commit
        return self.ids is not None and any(h is self.entry for h in hooks)

    def run(self) -> None:
        ids, self.ids = self.ids, None  # type: ignore[assignment]
        if ids:
            self.after_commit(self.using, ids)


_pending = threading.local()


def defer(using: str, ids: list[int], after_commit: Callable[[str, list[int]], None]) -> None:
    """Run ``after_commit(using, ids)`` once the current transaction on ``using`` commits,
    together with the ids recorded before it in the same transaction."""
    by_key: dict[tuple[str, Any], Pending] = _pending.__dict__.setdefault("by_key", {})
    key = (using, after_commit)
    pending = by_key.get(key)
    if pending is None or not pending.alive():
        pending = by_key[key] = Pending(using, after_commit)
    pending.ids.extend(ids)


class DeleteBuffer:
    """Deleted rows' keys, gathered from ``pre_delete`` and recorded at the first
    ``post_delete`` of the same model: one INSERT per model for a whole ``delete()``.

    Django sends every ``pre_delete`` of a deletion before deleting anything, then each
    model's ``post_delete`` signals right after that model's rows are gone. Keys left behind
    by a deletion that failed half-way are recorded with the next one: a spare entry only
    re-reads a row, so it costs a store write and never a wrong vector.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def _keys(self) -> dict[tuple[str, type], dict[str, list[Any]]]:
        return self._local.__dict__.setdefault("keys", defaultdict(lambda: defaultdict(list)))

    def add(self, using: str, sender: type, labels: Sequence[str], pk: Any) -> None:
        keys = self._keys()[(using, sender)]
        for label in labels:
            keys[label].append(pk)

    def take(self, using: str, sender: type) -> dict[str, list[Any]]:
        return self._keys().pop((using, sender), {})
