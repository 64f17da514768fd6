"""Writing rows' current state to their stores: one upsert and one delete per index."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
from django.db.models import Model, Value
from django.db.models.expressions import RawSQL

from ...client.registry import clients
from ...errors import NotFoundError
from ...instrumentation import instrument
from ..fields import VectorField, vector_fields, vector_id
from ..reindex import stack_vectors, values_rows
from ..text import carries_text, record_attnames, record_parts
from .locks import lock_rows

logger = logging.getLogger("vectra_django.sync")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a vector goes: alias, index and namespace, plus the shape to create it with."""

    alias: str
    index: str
    namespace: str | None
    dimension: int
    metric: str


def target(vf: VectorField) -> Target:
    return Target(vf.provider, vf.index_name, vf.namespace, int(vf.dimensions), vf.metric)


def synced_fields(model: type[Model] | Model, using: str) -> list[VectorField]:
    """The model's vector fields copied to a provider index when rows on ``using`` change."""
    return [f for f in vector_fields(model) if f.auto_index and not f.is_inline(using)]


def declaring_labels(fields: Sequence[VectorField]) -> list[str]:
    """The labels of the models that declare ``fields`` (a multi-table child's inherited
    field is written, and keyed, under its parent), each once."""
    return list(dict.fromkeys(f.model._meta.label for f in fields))


def sync_rows(
    using: str, model: type[Model], pks: Sequence[Any], fields: Sequence[VectorField]
) -> tuple[int, int]:
    """Bring ``fields`` of the rows ``pks`` of ``model`` up to date in their stores, from
    the rows' current state: present vectors upserted, missing rows and NULLs deleted.

    Runs inside a transaction on ``using`` (the caller's): the rows' locks are taken first
    (:mod:`.locks`) and kept to its end, so concurrent writers of a row go one at a time.
    Returns (upserted, deleted).
    """
    lock_rows(using, model._meta.label, pks)
    columns = ["pk"]
    for vf in fields:
        columns += [vf.attname, *record_attnames(vf)]
    rows = values_rows(
        model._base_manager.using(using).filter(pk__in=list(pks)),
        *dict.fromkeys(columns),
        raw_vectors=True,
    )
    position = {name: i for i, name in enumerate(dict.fromkeys(columns))}
    upserted = deleted = 0
    for vf in fields:
        at = position[vf.attname]
        record_at = [position[name] for name in record_attnames(vf)]
        present = [row for row in rows if row[at] is not None]
        seen = {row[0] for row in present}
        gone = [vector_id(vf.model, pk) for pk in dict.fromkeys(pks) if pk not in seen]
        parts = [record_parts(vf, [row[i] for i in record_at]) for row in present]
        write(
            target(vf),
            ids=[vector_id(vf.model, row[0]) for row in present],
            values=stack_vectors([row[at] for row in present]),
            metadata=[meta for meta, _ in parts],
            deletes=gone,
            texts=[text for _, text in parts] if carries_text(vf, vf.client()) else None,
        )
        upserted += len(present)
        deleted += len(gone)
    return upserted, deleted


def row_version(model: type[Model], using: str) -> Any:
    """An expression for the row's version: PostgreSQL's ``xmin``, the id of the transaction
    that wrote the row as it is now, so any committed change gives another value. ``NULL``
    on other databases (no version: :func:`resync_changed` then does nothing)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return Value(None)
    table = connection.ops.quote_name(model._meta.db_table)
    return RawSQL(f"{table}.xmin::text::bigint", [])


def resync_changed(using: str, vf: VectorField, versions: dict[Any, Any], after: Any) -> int:
    """Re-sync the rows of ``versions`` (pk -> :func:`row_version` when read, a keyset batch:
    the rows with ``after < pk <= max(versions)``) that changed or went away since: a bulk
    copy calls it once it has written what it read.

    A concurrent write's own sync may have landed *before* the copy's older vector; this
    puts the row's current state back, under the row's lock. A change committed after this
    check is left to that write's own sync, which comes later. Returns the rows re-synced.
    """
    if not versions or all(v is None for v in versions.values()):
        return 0
    model = vf.model
    batch = model._base_manager.using(using).filter(pk__lte=max(versions))
    if after is not None:
        batch = batch.filter(pk__gt=after)
    now = dict(
        batch.annotate(_vectra_version=row_version(model, using)).values_list(
            "pk", "_vectra_version"
        )
    )
    changed = [pk for pk, version in versions.items() if now.get(pk) != version]
    if changed:
        with transaction.atomic(using=using):
            sync_rows(using, model, changed, [vf])
    return len(changed)


def write(
    tgt: Target,
    ids: list[str],
    values: Any,
    metadata: list[dict[str, Any]],
    deletes: list[str],
    texts: list[str | None] | None = None,
) -> None:
    """One upsert of ``ids`` and one delete of ``deletes`` (either may be empty); a missing
    index is created for the upsert, and ignored by the delete."""
    client = clients[tgt.alias]
    if ids:
        with _instrument("sync_upsert", client, tgt, ids):
            kwargs = {"ids": ids, "values": values, "metadata": metadata, "texts": texts}
            try:
                client.upsert(tgt.index, namespace=tgt.namespace, **kwargs)
            except NotFoundError:
                client.create_index(tgt.index, tgt.dimension, tgt.metric)
                client.upsert(tgt.index, namespace=tgt.namespace, **kwargs)
    if deletes:
        with _instrument("sync_delete", client, tgt, deletes):
            try:
                client.delete(tgt.index, ids=deletes, namespace=tgt.namespace)
            except NotFoundError:
                logger.debug("Index %r does not exist; nothing to delete.", tgt.index)


def _instrument(operation: str, client: Any, tgt: Target, ids: list[str]) -> Any:
    metadata = {"vector_count": len(ids)}
    return instrument(operation, client.provider_name, tgt.index, tgt.namespace, metadata)
