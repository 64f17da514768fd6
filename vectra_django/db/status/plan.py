"""Whether a typical in-place search goes through the vector index: ``EXPLAIN`` of the
field's own ``vector_search``, as the application runs it.

A plan that scans the whole table is right for a small table and costly for a large one,
so a plan without the index is explained a second time with sequential scans disabled:
if the index shows up then, the planner *can* use it and only prefers not to (the table is
small, or its statistics are stale); if it still does not, the index cannot serve this
search (another metric's operator class, an invalid index).

Both run in a transaction (a savepoint inside the caller's) that is rolled back, so neither
the disabled scans nor the search's own ``SET LOCAL`` settings outlive them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import DatabaseError, connections, transaction

from ...errors import VectraError
from ..fields import VectorField
from ..queryset import VectorQuerySet

# Rows a typical search returns.
LIMIT = 10


@dataclass
class PlanInfo:
    """What ``EXPLAIN`` says: the node reading the table (``scan``, e.g. ``"Seq Scan"``),
    the vector index it goes through if any, and whether the planner can use one at all
    (``usable``; ``None`` when the first plan already used one)."""

    uses_index: bool
    index: str | None
    scan: str | None
    usable: bool | None = None
    error: str | None = None


class _Undo(Exception):
    """Raised to roll the probe's savepoint back."""


def query_vector(vf: VectorField, using: str) -> list[float]:
    """The first stored vector that can be searched with, else a unit vector."""
    stored = (
        vf.model._base_manager.using(using)
        .filter(**{f"{vf.attname}__isnull": False})
        .order_by("pk")
        .values_list(vf.attname, flat=True)[:1]
    )
    for values in stored:
        if np.any(values) and np.all(np.isfinite(values)):
            return list(values)
    return [1.0] + [0.0] * (int(vf.dimensions) - 1)


def _search(vf: VectorField, using: str, vector: list[float]) -> Any:
    queryset = vf.model._default_manager.using(using)
    if not isinstance(queryset, VectorQuerySet):  # a custom default manager
        queryset = VectorQuerySet(model=vf.model, using=using)
    return queryset.vector_search(vector, limit=LIMIT, field=vf.name)


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _nodes(child)


def _explain(vf: VectorField, using: str, vector: list[float], seqscan: bool) -> list[dict]:
    """Every node of the search's plan, in a rolled-back savepoint."""
    nodes: list[dict[str, Any]] = []
    with contextlib.suppress(_Undo), transaction.atomic(using=using):
        if not seqscan:
            with connections[using].cursor() as cursor:
                cursor.execute("SELECT set_config('enable_seqscan', 'off', true)")
        document = json.loads(_search(vf, using, vector).explain(format="json"))
        nodes = list(_nodes(document[0]["Plan"]))
        raise _Undo
    return nodes


def _reading(
    nodes: list[dict[str, Any]], table: str, indexes: set[str]
) -> tuple[str | None, str | None]:
    """The vector index the plan goes through, and the node that reads the table."""
    used = next((n["Index Name"] for n in nodes if n.get("Index Name") in indexes), None)
    scans = [n for n in nodes if n.get("Relation Name") == table]
    scan = None
    if scans:
        first = next((n for n in scans if n.get("Index Name") in indexes), scans[0])
        scan = first["Node Type"] + (
            f" using {first['Index Name']}" if "Index Name" in first else ""
        )
    return used, scan


def explain_search(vf: VectorField, using: str, indexes: set[str]) -> PlanInfo:
    """Explain a typical search of ``vf``; ``indexes`` are the column's vector indexes."""
    table = vf.model._meta.db_table
    try:
        with transaction.atomic(using=using):
            vector = query_vector(vf, using)
        used, scan = _reading(_explain(vf, using, vector, seqscan=True), table, indexes)
        plan = PlanInfo(uses_index=used is not None, index=used, scan=scan)
        if used is None and indexes:
            forced, _ = _reading(_explain(vf, using, vector, seqscan=False), table, indexes)
            plan.usable = forced is not None
    except (DatabaseError, VectraError, KeyError, IndexError, ValueError) as exc:
        return PlanInfo(False, None, None, error=f"{type(exc).__name__}: {exc}")
    return plan
