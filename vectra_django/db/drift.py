"""Comparing a synced field's table with its store: what is missing, stale or a ghost.

A *missing* vector is a row's vector absent from the store; a *stale* one is in the store
with other values or metadata than the row; a *ghost* is a store entry of this model whose
row is gone or has no vector. Writes that fire no signals (raw SQL, Django 6.1's
``DB_CASCADE``/``DB_SET_NULL``) leave such drift behind; ``vectra_reindex --check`` finds
it and a plain ``vectra_reindex`` repairs it.

Ids of several models can share one index: a model's own ids are those that start with its
``<db_table>_`` prefix, decode to one of its keys, and do not start with the longer prefix
of another model synced to the same index and namespace (``testapp_note_2_5`` belongs to the
table ``testapp_note_2``, not to ``testapp_note``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
from django.apps import apps

from ..client.validation import MAX_PAGE_SIZE
from ..errors import NotFoundError
from .fields import VectorField, pk_from_vector_id, vector_fields, vector_id
from .reindex import stack_vectors, values_rows
from .text import carries_text, record_attnames, record_parts

# A store keeps float32 values, and some (Qdrant, cosine) rescale them on the way.
_RTOL, _ATOL = 1e-5, 1e-6


@dataclass
class Drift:
    """How a field's store differs from its table. When the store cannot list ids
    (``listed`` false), only the ghosts of rows that still exist, with a NULL vector, are
    counted: those of deleted rows cannot be found."""

    rows: int = 0
    missing: int = 0
    stale: int = 0
    ghosts: int = 0
    listed: bool = True
    examples: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.missing or self.stale or self.ghosts)

    def note(self, kind: str, vid: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(f"{kind} {vid}")


def sharing_prefixes(vf: VectorField) -> list[str]:
    """The id prefixes of other models synced to ``vf``'s index and namespace that extend
    ``vf``'s own prefix (their ids would otherwise pass for this model's)."""
    own = vector_id(vf.model, "")
    found = set()
    for model in apps.get_models():
        for other in vector_fields(model):
            if other.model is vf.model or other.model is not model:
                continue
            if (other.provider, other.index_name, other.namespace) != (
                vf.provider,
                vf.index_name,
                vf.namespace,
            ):
                continue
            prefix = vector_id(other.model, "")
            if prefix.startswith(own) and prefix != own:
                found.add(prefix)
    return sorted(found)


def shares_namespace(vf: VectorField) -> bool:
    """Whether another model's field is synced to ``vf``'s index and namespace."""
    target = (vf.provider, vf.index_name, vf.namespace)
    return any(
        (other.provider, other.index_name, other.namespace) == target
        for model in apps.get_models()
        for other in vector_fields(model)
        if other.model is model and other.model is not vf.model
    )


def own_ids(client: Any, vf: VectorField, page_size: int) -> Iterator[str]:
    """The ids in ``vf``'s index and namespace that belong to ``vf``'s model, page by page
    (raises ``UnsupportedFeatureError`` when the store cannot list ids)."""
    others = tuple(sharing_prefixes(vf))
    ids = client.list_ids(
        vf.index_name,
        prefix=vector_id(vf.model, ""),
        namespace=vf.namespace,
        page_size=min(page_size, MAX_PAGE_SIZE),
    )
    for vid in ids:
        if not (others and vid.startswith(others)):
            yield vid


def pages(items: Iterator[str], size: int) -> Iterator[list[str]]:
    while page := list(islice(items, size)):
        yield page


def ghost_ids(vf: VectorField, using: str, page: list[str]) -> list[str]:
    """The ids of ``page`` whose row is gone or has no vector."""
    model = vf.model
    pks = {vid: pk_from_vector_id(model, vid) for vid in page}
    pks = {vid: pk for vid, pk in pks.items() if pk is not None}
    alive = set(
        model._base_manager.using(using)
        .filter(pk__in=list(pks.values()), **{f"{vf.attname}__isnull": False})
        .values_list("pk", flat=True)
    )
    return [vid for vid, pk in pks.items() if pk not in alive]


def check(vf: VectorField, using: str, batch_size: int) -> Drift:
    """Compare every row of ``vf``'s model with the store, in keyset batches; writes nothing."""
    from ..errors import UnsupportedFeatureError

    model, client = vf.model, vf.client()
    drift = Drift()
    if not client.index_exists(vf.index_name):
        drift.missing = (
            model._base_manager.using(using).filter(**{f"{vf.attname}__isnull": False}).count()
        )
        drift.rows = drift.missing
        return drift
    meta = record_attnames(vf)
    base = model._base_manager.using(using).order_by("pk")
    last = None
    nulled: list[str] = []  # ghosts of rows whose vector is NULL
    while True:
        page = base if last is None else base.filter(pk__gt=last)
        rows = values_rows(page[:batch_size], "pk", vf.attname, *meta, raw_vectors=True)
        if not rows:
            break
        last = rows[-1][0]
        nulled += _compare_batch(client, vf, rows, drift)
    try:
        ghosts = [
            vid
            for ids in pages(own_ids(client, vf, batch_size), batch_size)
            for vid in ghost_ids(vf, using, ids)
        ]
    except UnsupportedFeatureError:
        drift.listed, ghosts = False, nulled
    except NotFoundError:
        ghosts = []
    drift.ghosts = len(ghosts)
    for vid in ghosts:
        drift.note("ghost", vid)
    return drift


def _compare_batch(
    client: Any, vf: VectorField, rows: list[tuple[Any, ...]], drift: Drift
) -> list[str]:
    """Count the batch's missing and stale vectors; returns the ids stored for NULL vectors."""
    ids = [vector_id(vf.model, row[0]) for row in rows]
    try:
        stored = client.fetch(vf.index_name, ids, namespace=vf.namespace)
    except NotFoundError:
        stored = {}
    present = [(vid, row) for vid, row in zip(ids, rows, strict=True) if row[1] is not None]
    drift.rows += len(present)
    nulled = [vid for vid, row in zip(ids, rows, strict=True) if row[1] is None and vid in stored]
    matrix = stack_vectors([row[1] for _, row in present])
    texts = carries_text(vf, client)
    for (vid, row), values in zip(present, matrix, strict=True):
        found = stored.get(vid)
        if found is None:
            drift.missing += 1
            drift.note("missing", vid)
        elif not _same(values, found.values) or not _same_record(vf, row[2:], found, texts):
            drift.stale += 1
            drift.note("stale", vid)
    return nulled


def _same_record(vf: VectorField, values: Any, stored: Any, texts: bool) -> bool:
    """Whether the stored metadata (and text, when records carry it) match."""
    metadata, text = record_parts(vf, values)
    if metadata != (stored.metadata or {}):
        return False
    return not texts or text == stored.text


def _same(values: np.ndarray, stored: Any) -> bool:
    other = np.asarray(stored, dtype=np.float32)
    return other.shape == values.shape and bool(np.allclose(values, other, _RTOL, _ATOL))
