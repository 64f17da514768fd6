"""Which embedder made a field's vectors: recorded when the field first embeds on a
database, and compared with the configured embedder by a system check.

Vectors from two embedding models cannot be compared: a search embedded by the new model
against rows embedded by the old one returns noise, or fails on the dimension. The record
(:class:`~vectra_django.models.EmbeddingRecord`) makes that change visible at ``check``
and ``migrate`` time, and ``vectra_reembed`` updates it when the rows are re-embedded.
"""

from __future__ import annotations

import threading
from typing import Any

from django.apps import apps
from django.core import checks
from django.db import DatabaseError, router, transaction

from ..embedders import embedder_identity
from .fields import VectorField, source_vector_fields

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


@checks.register(checks.Tags.database)
def check_embedders(databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E030: the configured embedder did not make the stored vectors; W031: a re-embed
    stopped half way."""
    from ..models import EmbeddingRecord

    messages: list[checks.CheckMessage] = []
    for alias in databases or ():
        try:
            records = {(r.model, r.field): r for r in EmbeddingRecord.objects.using(alias)}
        except DatabaseError:
            continue  # not migrated there
        for model in apps.get_models():
            for vf in source_vector_fields(model):
                record = records.get(field_key(vf))
                if record is not None and vf.model is model:
                    messages += _compare(vf, record)
    return messages


def _compare(vf: VectorField, record: Any) -> list[checks.CheckMessage]:
    try:
        current = embedder_identity(vf.get_embedder())
    except Exception:  # an unusable embedder is E015's to report
        return []
    messages: list[checks.CheckMessage] = []
    if record.embedder != current:
        messages.append(
            checks.Error(
                f"The vectors of {vf.label} were made by {record.embedder!r} "
                f"({record.dimension} dimensions), but its embedder is now {current!r}: "
                "searches would compare vectors of two models.",
                hint=f"Re-embed the rows: manage.py vectra_reembed {vf.label} (add --shadow "
                "to keep searching the old vectors until the new ones are complete), or "
                "configure the previous embedder again.",
                obj=vf,
                id="vectra_django.E030",
            )
        )
    if record.target:
        messages.append(
            checks.Warning(
                f"A re-embed of {vf.label} with {record.target!r} stopped after primary key "
                f"{record.cursor or '(none)'}.",
                hint=f"Run manage.py vectra_reembed {vf.label} again: it resumes there.",
                obj=vf,
                id="vectra_django.W031",
            )
        )
    return messages
