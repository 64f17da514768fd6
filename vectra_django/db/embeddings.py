"""Which embedder made a field's vectors: recorded when the field first embeds on a
database, and compared with the configured embedder by a system check.

Vectors from two embedding models cannot be compared: a search embedded by the new model
against rows embedded by the old one returns noise, or fails on the dimension. The record
(:class:`~vectra_django.models.EmbeddingRecord`) makes that change visible at ``check``
and ``migrate`` time, and ``vectra_reembed`` updates it when the rows are re-embedded.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core import checks
from django.db import DatabaseError

from ..embedders import embedder_identity
from .fields import VectorField, source_vector_fields
from .records import field_key, forget_recorded, note_embedded

__all__ = ["check_embedders", "field_key", "forget_recorded", "note_embedded"]


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
