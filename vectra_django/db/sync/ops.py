"""What a synced write must change in a store (``SyncOp``), and writing a list of them."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models import Model

from ...client.registry import clients
from ...errors import NotFoundError
from ...instrumentation import instrument
from ..fields import VectorField, vector_fields, vector_id

logger = logging.getLogger("vectra_django.sync")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a vector goes: alias, index and namespace, plus the shape to create it with."""

    alias: str
    index: str
    namespace: str | None
    dimension: int
    metric: str


@dataclass(frozen=True, slots=True)
class SyncOp:
    """One pending write; ``values``/``metadata`` are captured when the row is saved."""

    action: str  # "upsert" | "delete"
    target: Target
    vector_id: str
    model: str
    field: str
    pk: Any
    using: str
    values: list[float] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def synced_fields(model: type[Model] | Model, using: str) -> list[VectorField]:
    """The model's vector fields copied to a provider index when rows on ``using`` change."""
    return [f for f in vector_fields(model) if f.auto_index and not f.is_inline(using)]


def target(vf: VectorField) -> Target:
    return Target(vf.provider, vf.index_name, vf.namespace, int(vf.dimensions), vf.metric)


def plan(vf: VectorField, instance: Model, using: str) -> SyncOp:
    """The write that brings ``instance``'s vector in ``vf``'s index up to date."""
    values = getattr(instance, vf.attname)
    common = {
        "target": target(vf),
        "vector_id": vector_id(vf.model, instance.pk),
        "model": vf.model._meta.label,
        "field": vf.name,
        "pk": instance.pk,
        "using": using,
    }
    if values is None:
        return SyncOp("delete", **common)
    return SyncOp("upsert", values=list(values), metadata=vf.metadata_for(instance), **common)


def delete_op(vf: VectorField, pk: Any, using: str) -> SyncOp:
    return SyncOp(
        "delete", target(vf), vector_id(vf.model, pk), vf.model._meta.label, vf.name, pk, using
    )


# -- writing -----------------------------------------------------------------------------


def latest(ops: Iterable[SyncOp]) -> list[SyncOp]:
    """``ops`` with only the last op per (index, namespace, id), in order."""
    last: dict[tuple[str, str, str | None, str], SyncOp] = {}
    for op in ops:
        key = (op.target.alias, op.target.index, op.target.namespace, op.vector_id)
        last.pop(key, None)
        last[key] = op
    return list(last.values())


def apply(ops: Iterable[SyncOp]) -> None:
    """Write ``ops`` now: per index one upsert and one delete; the last op per id wins."""
    groups: dict[Target, dict[str, list[SyncOp]]] = defaultdict(lambda: defaultdict(list))
    for op in latest(ops):
        groups[op.target][op.action].append(op)
    for tgt, by_action in groups.items():
        if by_action["upsert"]:
            _run("sync_upsert", tgt, by_action["upsert"], _upsert)
        if by_action["delete"]:
            _run("sync_delete", tgt, by_action["delete"], _delete)


def _run(operation: str, tgt: Target, ops: list[SyncOp], write: Callable[..., None]) -> None:

    client = clients[tgt.alias]
    ids = [op.vector_id for op in ops]
    try:
        with instrument(
            operation,
            client.provider_name,
            tgt.index,
            tgt.namespace,
            metadata={"vector_count": len(ops)},
        ):
            write(client, tgt, ops)
    except Exception:
        logger.exception(
            "Vector %s of %d id(s) to %r (%s) failed, first id %r; the rows are saved, "
            "the index is behind: run manage.py vectra_reindex once the store is back.",
            operation,
            len(ids),
            tgt.index,
            tgt.alias,
            ids[0],
        )
        raise


def _upsert(client: Any, tgt: Target, ops: list[SyncOp]) -> None:
    kwargs = {
        "ids": [op.vector_id for op in ops],
        "values": np.asarray([op.values for op in ops], dtype=np.float32),
        "metadata": [op.metadata for op in ops],
        "namespace": tgt.namespace,
    }
    try:
        client.upsert(tgt.index, **kwargs)
    except NotFoundError:
        client.create_index(tgt.index, tgt.dimension, tgt.metric)
        client.upsert(tgt.index, **kwargs)


def _delete(client: Any, tgt: Target, ops: list[SyncOp]) -> None:
    try:
        client.delete(tgt.index, ids=[op.vector_id for op in ops], namespace=tgt.namespace)
    except NotFoundError:
        logger.debug("Index %r does not exist; nothing to delete.", tgt.index)
