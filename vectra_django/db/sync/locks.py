"""Per-row serialization of store writes: PostgreSQL advisory locks held to the commit.

Whoever writes a row's vector to a store (an outbox drain, ``vectra_reindex``,
``index_vector()``) first takes the lock of that row's key, then reads the row, then writes,
then commits. So the last writer always read the newest committed state, and no older vector
can land after a newer one. Keys are coarse on purpose: integer keys share a lock per run of
64 consecutive values (a reindex batch takes a few locks, not hundreds); other keys fall into
1,024 buckets per model. Locks are taken in one statement, in sorted order, so two writers
can never deadlock on each other.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from django.db import connections

_INT_RUN = 64
_BUCKETS = 1024


def row_keys(label: str, pks: Iterable[Any]) -> list[int]:
    """The sorted advisory lock keys covering ``pks`` of the model ``label``."""
    space = (zlib.crc32(label.encode()) & 0x7FFFFFFF) << 32
    keys = set()
    for pk in pks:
        if isinstance(pk, int):
            keys.add(space | ((pk // _INT_RUN) & 0xFFFFFFFF))
        else:
            keys.add(space | (zlib.crc32(str(pk).encode()) % _BUCKETS))
    return sorted(keys)


def lock_rows(using: str, label: str, pks: Iterable[Any]) -> None:
    """Take the locks of ``pks`` until the end of the current transaction on ``using``.

    A no-op on databases without advisory locks (there, concurrent writers of one row are
    not ordered; see docs/sync.md).
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    if not connection.in_atomic_block:
        raise RuntimeError("lock_rows() needs a transaction: the locks last until its end.")
    keys = row_keys(label, pks)
    if keys:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", [keys]
            )
