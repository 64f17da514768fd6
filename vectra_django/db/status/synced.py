"""The synced side of a field: its store's index, the drift between table and store, and the
outbox entries still waiting to reach the store.

Drift is counted by :func:`vectra_django.db.drift.check`, the code ``vectra_reindex --check``
runs, so the two commands never disagree; it reads every row, which is why it can be skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import DatabaseError, transaction
from django.db.models import Count, Min, Q

from ...errors import VectraError
from .. import drift
from ..fields import VectorField


@dataclass
class StoreInfo:
    """The field's index in its store: whether the store answered (``error`` says why not),
    whether the index exists, how many vectors its namespace holds and its dimension."""

    reachable: bool
    index_exists: bool | None = None
    vectors: int | None = None
    dimension: int | None = None
    error: str | None = None


@dataclass
class DriftInfo:
    """Counts from ``vectra_reindex --check``; ``checked`` is false when skipped
    (``--no-drift``) or when the store did not answer. ``ghosts_complete`` is false when
    the store cannot list ids: ghosts of deleted rows are then not counted."""

    checked: bool
    missing: int | None = None
    stale: int | None = None
    ghosts: int | None = None
    ghosts_complete: bool | None = None
    examples: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.missing or self.stale or self.ghosts)


@dataclass
class OutboxInfo:
    """The model's outbox entries: ``pending`` ones wait for a drain, ``parked`` ones failed
    too often and wait for ``vectra_sync --retry-parked``."""

    readable: bool
    pending: int = 0
    parked: int = 0
    oldest_pending: str | None = None
    error: str | None = None


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def store_status(vf: VectorField) -> StoreInfo:
    """Ask the store about the field's index; an error is reported, never raised."""
    try:
        client = vf.client()
        if not client.index_exists(vf.index_name):
            return StoreInfo(reachable=True, index_exists=False, vectors=0)
        stats = client.stats(vf.index_name, namespace=vf.namespace)
        dimension = client.describe_index(vf.index_name).get("dimension")
    except (VectraError, DatabaseError, OSError) as exc:
        return StoreInfo(reachable=False, error=_failure(exc))
    return StoreInfo(
        reachable=True,
        index_exists=True,
        vectors=int(stats["vector_count"]),
        dimension=None if dimension is None else int(dimension),
    )


def drift_status(vf: VectorField, using: str, batch_size: int) -> DriftInfo:
    """Compare the table with the store, row by row, as ``vectra_reindex --check`` does."""
    found = drift.check(vf, using, batch_size)
    return DriftInfo(
        checked=True,
        missing=found.missing,
        stale=found.stale,
        ghosts=found.ghosts,
        ghosts_complete=found.listed,
        examples=list(found.examples),
    )


def outbox_status(vf: VectorField, using: str) -> OutboxInfo:
    """The outbox entries recorded under the label of the model declaring the field."""
    from ...models import SyncEntry

    entries = SyncEntry.objects.using(using).filter(model=vf.model._meta.label)
    try:
        with transaction.atomic(using=using):  # a missing table must not break the caller's
            counts = entries.aggregate(
                waiting=Count("id", filter=Q(parked=False)),
                failed=Count("id", filter=Q(parked=True)),
                oldest=Min("created_at", filter=Q(parked=False)),
            )
    except DatabaseError as exc:
        return OutboxInfo(readable=False, error=_failure(exc))
    oldest = counts["oldest"]
    return OutboxInfo(
        readable=True,
        pending=int(counts["waiting"]),
        parked=int(counts["failed"]),
        oldest_pending=None if oldest is None else oldest.isoformat(),
    )
