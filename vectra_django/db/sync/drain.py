"""Draining the outbox: claim entries, write the rows' current state, delete the entries.

Each batch is one transaction on the rows' database::

    BEGIN
    DELETE FROM vectra_sync_outbox WHERE id IN (... FOR UPDATE SKIP LOCKED) RETURNING ...
    -- per model: lock the rows' keys, read their current state, write it to the store
    COMMIT

Deleting at claim time makes the entries invisible to other drains (``SKIP LOCKED``) and
final only with the commit: a drain that dies half-way (killed process, lost connection)
rolls back and its entries are there again for the next drain, in any process. A store
error rolls the batch back too, then counts an attempt on its entries and makes them wait
an exponential backoff with jitter; after ``MAX_ATTEMPTS`` they are *parked*: kept, listed
by ``vectra_sync --list`` and retried by ``vectra_sync --retry-parked``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections, transaction

from ...client.redaction import describe_error
from ...errors import ConfigurationError
from .ops import sync_rows, synced_fields
from .outbox import _table

logger = logging.getLogger("vectra_django.sync")

DEFAULTS = {
    "BATCH_SIZE": 1000,  # entries per drained batch: one store call per index
    "MAX_ATTEMPTS": 10,  # then the entry is parked
    "RETRY_DELAY": 1.0,  # seconds before the first retry, doubled per attempt
    "MAX_RETRY_DELAY": 600.0,
    "RECOVER_AFTER": 30.0,  # seconds after which any drain takes over another's entries
}


def options() -> dict[str, Any]:
    """``VECTRA_OUTBOX`` over the defaults, checked."""
    configured = getattr(settings, "VECTRA_OUTBOX", None) or {}
    if not isinstance(configured, dict):
        raise ConfigurationError("VECTRA_OUTBOX must be a dict, e.g. {'BATCH_SIZE': 500}.")
    unknown = sorted(set(configured) - set(DEFAULTS))
    if unknown:
        raise ConfigurationError(
            f"VECTRA_OUTBOX has unknown key(s) {unknown}; known: {sorted(DEFAULTS)}."
        )
    merged = {**DEFAULTS, **configured}
    for key, value in merged.items():
        integer = key in ("BATCH_SIZE", "MAX_ATTEMPTS")
        valid = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not valid or value < (1 if integer else 0):
            kind = "a positive integer" if integer else "a number of seconds >= 0"
            raise ConfigurationError(f"VECTRA_OUTBOX[{key!r}] must be {kind}, not {value!r}.")
    return merged


@dataclass
class DrainResult:
    """What one drain did: entries done and failed, vectors written, the last error."""

    entries: int = 0
    upserted: int = 0
    deleted: int = 0
    failed: int = 0
    error: BaseException | None = field(default=None, repr=False)

    def add(self, other: DrainResult) -> None:
        self.entries += other.entries
        self.upserted += other.upserted
        self.deleted += other.deleted
        self.failed += other.failed
        self.error = other.error or self.error


def drain(
    using: str = "default",
    ids: list[int] | None = None,
    *,
    recover_after: float | None = None,
    labels: list[str] | None = None,
    until_empty: bool = False,
) -> DrainResult:
    """Drain entries on ``using``: ``ids`` first (a transaction's own, in batches), the last
    batch topped up with entries due for ``recover_after`` seconds or more (others', e.g.
    left by a crash; ``0`` takes any due entry, ``None`` none). ``until_empty`` goes on
    with due entries until none is left. Stops at the first failing batch (its store is
    likely down); the failure is in the result, never raised.
    """
    opts = options()
    size = opts["BATCH_SIZE"]
    own = list(ids or [])
    result = DrainResult()
    while True:
        chunk, own = own[:size], own[size:]
        room = size - len(chunk) if recover_after is not None and not own else 0
        if not chunk and not room:
            break
        done = _drain_batch(using, chunk, room, recover_after or 0.0, labels, opts)
        result.add(done)
        if done.failed or (not own and not (until_empty and done.entries)):
            break
    return result


_CLAIM = """
WITH own AS (
    SELECT id FROM {table} WHERE id = ANY(%(own)s) FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id FROM {table}
    WHERE NOT parked AND available_at <= now() - make_interval(secs => %(after)s)
      AND (%(labels)s::text[] IS NULL OR model = ANY(%(labels)s))
    ORDER BY available_at, id LIMIT %(room)s FOR UPDATE SKIP LOCKED
)
DELETE FROM {table} AS o WHERE o.id IN (SELECT id FROM own UNION SELECT id FROM due)
RETURNING o.id, o.model, o.object_pk
"""

_FAIL = """
UPDATE {table} SET
    attempts = attempts + 1,
    last_error = %(error)s,
    parked = attempts + 1 >= %(max_attempts)s,
    available_at = now() + make_interval(
        secs => least(%(cap)s, %(base)s * power(2, least(attempts, 30))) * (0.5 + random() / 2)
    )
WHERE id = ANY(%(ids)s)
"""


def _drain_batch(
    using: str,
    own: list[int],
    room: int,
    recover_after: float,
    labels: list[str] | None,
    opts: dict[str, Any],
) -> DrainResult:
    connection = connections[using]
    result = DrainResult()
    claimed: list[int] = []
    try:
        with transaction.atomic(using=using):
            _read_committed(connection)
            with connection.cursor() as cursor:
                cursor.execute(
                    _CLAIM.format(table=_table(using)),
                    {"own": own, "room": room, "after": recover_after, "labels": labels},
                )
                rows = cursor.fetchall()
            claimed = [row[0] for row in rows]
            by_label: dict[str, list[str]] = defaultdict(list)
            for _, label, pk in rows:
                by_label[label].append(pk)
            for label, keys in by_label.items():
                up, down = _sync_label(using, label, keys)
                result.upserted += up
                result.deleted += down
            result.entries = len(claimed)
    except Exception as exc:
        if not claimed:
            raise  # the database itself failed: nothing was claimed, nothing to count
        _count_failure(using, claimed, exc, opts)
        result.failed, result.error = len(claimed), exc
    return result


def _sync_label(using: str, label: str, keys: list[str]) -> tuple[int, int]:
    try:
        model = apps.get_model(label)
    except LookupError:
        logger.warning("Dropping %d outbox entries of %r: no such model.", len(keys), label)
        return 0, 0
    fields = [f for f in synced_fields(model, using) if f.model is model]
    if not fields:
        return 0, 0  # no longer synced (settings changed): nothing to write
    to_python = model._meta.pk.to_python
    return sync_rows(using, model, [to_python(k) for k in dict.fromkeys(keys)], fields)


def _read_committed(connection: Any) -> None:
    """Each statement of a drain must see what committed before it (the read after the
    lock especially): under REPEATABLE READ or SERIALIZABLE the snapshot of the first
    statement would be kept, and a vector older than the newest commit could be written."""
    from psycopg import IsolationLevel

    level = getattr(connection, "isolation_level", IsolationLevel.READ_COMMITTED)
    own = len(connection.atomic_blocks) == 1  # the drain's own transaction, not a savepoint
    if connection.vendor == "postgresql" and level != IsolationLevel.READ_COMMITTED and own:
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")


def _count_failure(using: str, ids: list[int], exc: BaseException, opts: dict[str, Any]) -> None:
    error = describe_error(exc)[:2000]
    with connections[using].cursor() as cursor:
        cursor.execute(
            _FAIL.format(table=_table(using)),
            {
                "error": error,
                "max_attempts": opts["MAX_ATTEMPTS"],
                "cap": float(opts["MAX_RETRY_DELAY"]),
                "base": float(opts["RETRY_DELAY"]),
                "ids": ids,
            },
        )
    logger.error(
        "Syncing %d outbox entries on %r failed (%s). The rows are saved and their entries "
        "kept: they are retried with backoff, by the next commit's drain or by "
        "manage.py vectra_sync (which retries now).",
        len(ids),
        using,
        error,
    )
