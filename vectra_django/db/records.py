"""The record of which embedder made a field's vectors, written when the field first embeds.

Kept apart from :mod:`.embeddings` (the system check) so that ``VectorField`` can write it
without importing what imports the field.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, router, transaction

from ..embedders import embedder_identity

if TYPE_CHECKING:
    from .fields import VectorField

# (database, model label, field) whose record is known to exist in this process.
_recorded: set[tuple[str, str, str]] = set()
_lock = threading.Lock()


def field_key(vf: VectorField) -> tuple[str, str]:
    """The record's key: the declaring model's label and the field's name."""
    return vf.model._meta.label, vf.name


def note_embedded(vf: VectorField, embedder: Any, using: str | None = None) -> None:
    """Record ``embedder`` as the maker of ``vf``'s vectors on ``using``, unless a record
    exists already (a different one is the system check's to report). Once per process; a
    database without the table (migrations not run yet) is left alone."""
    from ..models import EmbeddingRecord

    using = using or router.db_for_write(vf.model)
    key = (using, *field_key(vf))
    if key in _recorded:
        return
    label, name = field_key(vf)
    try:
        with transaction.atomic(using=using):
            EmbeddingRecord.objects.using(using).get_or_create(
                model=label,
                field=name,
                defaults={"embedder": embedder_identity(embedder), "dimension": embedder.dimension},
            )
    except DatabaseError:
        pass  # no table there (yet): `check` reports unapplied migrations; not tried again
    with _lock:
        _recorded.add(key)


def forget_recorded() -> None:
    """Drop this process's memory of existing records (tests, after a re-embed)."""
    with _lock:
        _recorded.clear()
