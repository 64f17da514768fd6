"""Re-embedding a vector field's rows with an embedder, in resumable batches.

:func:`plan` checks everything before anything changes (the field computes its vectors,
the embedder produces the field's dimension) and estimates the work; :func:`run` then
walks the rows in primary-key order, embeds each batch and writes it with ``bulk_update``
(so synced stores follow through the outbox) in the same transaction that advances the
record's cursor: a run killed at any point resumes after the last batch it committed.
With ``shadow`` the new vectors go to a shadow column first (:mod:`.shadow`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Length

from ..embedders import embedder_identity, get_embedder, source_names, source_text
from ..errors import ValidationError
from .fields import VectorField
from .records import field_key, forget_recorded

# Roughly four characters per token for English text: the estimate remote embedders bill.
CHARS_PER_TOKEN = 4


@dataclass
class Plan:
    """What a re-embed will do: the field, the embedder and how much text it reads."""

    vf: VectorField
    using: str
    embedder: Any
    identity: str
    rows: int
    characters: int | None  # None: a callable source, not counted without reading rows
    resume_after: Any = None

    @property
    def tokens(self) -> int | None:
        return None if self.characters is None else -(-self.characters // CHARS_PER_TOKEN)


def plan(vf: VectorField, using: str, embedder: Any = None) -> Plan:
    """Check and estimate a re-embed of ``vf`` on ``using`` with ``embedder`` (default: the
    field's own); a ``ValidationError`` names what stands in the way."""
    if vf.source is None:
        raise ValidationError(
            f"{vf.label} has no source=: its vectors are assigned, not computed, so there is "
            "nothing to re-embed them from."
        )
    new = get_embedder(embedder) if embedder is not None else vf.get_embedder()
    if new.dimension != vf.dimensions:
        raise ValidationError(
            f"The embedder {embedder_identity(new)!r} produces {new.dimension} dimensions and "
            f"{vf.label} holds {vf.dimensions}: change dimensions= (and migrate) first."
        )
    identity = embedder_identity(new)
    rows = vf.model._base_manager.using(using)
    names = source_names(vf.source)
    characters = None
    if names is not None:
        totals = rows.aggregate(**{f"c{i}": Sum(Length(name)) for i, name in enumerate(names)})
        characters = sum(int(n or 0) for n in totals.values())
    record = _records(vf, using).first()
    resume = None
    if record is not None and record.target == identity and record.cursor:
        resume = vf.model._meta.pk.to_python(record.cursor)
    return Plan(vf, using, new, identity, rows.count(), characters, resume)


def run(
    plan: Plan,
    batch_size: int,
    progress: Callable[[int], None],
    pause: float = 0.0,
    write: Callable[[Plan, list[Any], list[Any]], None] | None = None,
    finish: bool = True,
) -> int:
    """Re-embed every row after the plan's cursor; returns how many rows were written.

    ``write(plan, rows, vectors)`` stores a batch (default: the field's column, through
    ``bulk_update``); ``pause`` seconds pass between batches (throttling a remote
    embedder). The record names the new embedder once the last batch is in (unless
    ``finish`` is false: a shadow re-embed does that when it switches).
    """
    using = plan.using
    write = write or _write_column
    _start(plan)
    base = source_rows(plan).order_by("pk")
    last = plan.resume_after
    written = 0
    while True:
        page = base if last is None else base.filter(pk__gt=last)
        rows = list(page[:batch_size])
        if not rows:
            break
        vectors = embed_rows(plan, rows)
        last = rows[-1].pk
        with transaction.atomic(using=using):
            write(plan, rows, vectors)
            _advance(plan, last)
        written += len(rows)
        progress(len(rows))
        if pause:
            time.sleep(pause)
    if finish:
        finish_record(plan)
    return written


def source_rows(plan: Plan) -> Any:
    """The field's model rows with only what the source reads (when it names fields)."""
    rows = plan.vf.model._base_manager.using(plan.using)
    names = source_names(plan.vf.source)
    return rows if names is None else rows.only("pk", *names)


def embed_rows(plan: Plan, rows: list[Any]) -> list[Any]:
    """The new vector of each row, in one embedder call; ``None`` for an empty text."""
    texts = [source_text(row, plan.vf.source) for row in rows]
    filled = [i for i, text in enumerate(texts) if text.strip()]
    vectors: list[Any] = [None] * len(rows)
    if filled:
        embedded = plan.embedder.embed([texts[i] for i in filled])
        for i, vector in zip(filled, embedded, strict=True):
            vectors[i] = vector
    return vectors


def recorded(plan: Plan) -> str | None:
    """The embedder the record names for the field, if any."""
    record = _record(plan).first()
    return None if record is None else record.embedder


def _write_column(plan: Plan, rows: list[Any], vectors: list[Any]) -> None:
    vf = plan.vf
    for row, vector in zip(rows, vectors, strict=True):
        setattr(row, vf.attname, vector)
    from .queryset import VectorQuerySet

    # Not the base manager's plain QuerySet: this one records the rows for sync.
    VectorQuerySet(vf.model, using=plan.using).bulk_update(rows, [vf.name])


def _records(vf: VectorField, using: str) -> Any:
    """The field's record on ``using``, as a queryset (empty or one row)."""
    from ..models import EmbeddingRecord

    label, name = field_key(vf)
    return EmbeddingRecord.objects.using(using).filter(model=label, field=name)


def _record(plan: Plan) -> Any:
    return _records(plan.vf, plan.using)


def _start(plan: Plan) -> None:
    record, _ = _record(plan).get_or_create(
        defaults={"embedder": plan.identity, "dimension": plan.embedder.dimension}
    )
    if record.target != plan.identity:  # a new run (or one for another embedder): from 0
        _record(plan).update(target=plan.identity, cursor="")
        plan.resume_after = None


def _advance(plan: Plan, last: Any) -> None:
    _record(plan).filter(target=plan.identity).update(cursor=str(last))


def finish_record(plan: Plan) -> None:
    """The record now names the plan's embedder; no re-embed is under way."""
    _record(plan).update(
        embedder=plan.identity, dimension=plan.embedder.dimension, target="", cursor=""
    )
    forget_recorded()
