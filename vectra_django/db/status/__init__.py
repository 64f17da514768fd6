"""The state of a vector field, gathered for ``manage.py vectra_status``: where it is
searched, the index that serves it, how many rows and vectors there are, how far a synced
store lags behind its table, and what needs doing about it.

Everything is read; nothing is written. Each part that can fail on its own (a store that
does not answer, an outbox table not migrated yet, a search that cannot be planned) is
reported as such instead of ending the report, so one broken field never hides the others.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.db.models import Count

from ...errors import VectraError
from ...postgres import opclass
from ...postgres.builds import VECTOR_METHODS
from ..fields import VectorField
from ..text import text_column
from . import advice, catalog
from .advice import Action
from .catalog import BuildInfo, IndexInfo
from .plan import PlanInfo, explain_search
from .synced import DriftInfo, OutboxInfo, StoreInfo, drift_status, outbox_status, store_status

__all__ = ["Action", "FieldStatus", "field_status"]


@dataclass
class EmbedderInfo:
    """The field's embedder: its class, the model it runs (when it names one) and the
    dimension of its vectors; ``error`` when it cannot be loaded."""

    name: str | None
    model: str | None = None
    dimension: int | None = None
    error: str | None = None


@dataclass
class KeywordInfo:
    """The ``tsvector`` column of a field with ``text_search`` and its GIN index."""

    column: str
    exists: bool
    gin_index: str | None


@dataclass
class FieldStatus:
    """One vector field's report; ``None`` marks what does not apply to its mode
    (``"in_place"``: the column is the index; ``"synced"``: copied to a store)."""

    field: str
    model: str
    table: str
    column: str
    database: str
    provider_alias: str
    provider: str | None
    mode: str
    index: str | None
    namespace: str | None
    metric: str
    dimensions: int
    precision: str
    quantization: str | None
    embedder: EmbedderInfo | None
    rows: int = 0
    vectors: int = 0
    ann_indexes: list[IndexInfo] = field(default_factory=list)
    plan: PlanInfo | None = None
    keyword: KeywordInfo | None = None
    store: StoreInfo | None = None
    drift: DriftInfo | None = None
    outbox: OutboxInfo | None = None
    builds: list[BuildInfo] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    @property
    def in_place(self) -> bool:
        return self.mode == "in_place"

    @property
    def needs_action(self) -> bool:
        return bool(self.actions)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data, with the same keys for every field."""
        return {**asdict(self), "needs_action": self.needs_action}


def embedder_info(vf: VectorField) -> EmbedderInfo | None:
    """What made the field's vectors; ``None`` for a field without an embedder."""
    if vf.embedder is None:
        return None
    try:
        embedder = vf.get_embedder()
        name = f"{type(embedder).__module__}.{type(embedder).__qualname__}"
        model = getattr(embedder, "model_name", None)
        return EmbedderInfo(name, model if isinstance(model, str) else None, embedder.dimension)
    except Exception as exc:  # an unusable embedder is reported (as the system checks do)
        return EmbedderInfo(None, error=f"{type(exc).__name__}: {exc}")


def provider_name(vf: VectorField) -> str | None:
    """The short name of the alias's provider (``"pgvector"``), as its client reports it."""
    try:
        return vf.client().provider_name
    except VectraError:
        config = vf.provider_config() or {}
        return config.get("PROVIDER")


def expected_opclass(vf: VectorField) -> str:
    """The operator class an index needs to serve the field's searches."""
    if vf.quantization == "binary":
        return "bit_hamming_ops"
    return opclass(vf.metric, vf.precision)


def _counts(vf: VectorField, using: str) -> tuple[int, int]:
    """Rows in the table and rows with a vector, in one scan."""
    counts = vf.model._base_manager.using(using).aggregate(
        rows=Count("pk"), vectors=Count(vf.attname)
    )
    return int(counts["rows"]), int(counts["vectors"])


def _in_place(status: FieldStatus, vf: VectorField, using: str) -> None:
    connection = connections[using]
    status.ann_indexes = catalog.indexes_on(connection, status.table, vf.column, VECTOR_METHODS)
    wanted = expected_opclass(vf)
    for index in status.ann_indexes:
        index.serves_metric = index.opclass == wanted
    status.plan = explain_search(vf, using, {index.name for index in status.ann_indexes})
    column = text_column(vf)
    if column is not None:
        gin = catalog.indexes_on(connection, status.table, column, ("gin",))
        exists = catalog.has_column(connection, status.table, column)
        status.keyword = KeywordInfo(column, exists, gin[0].name if gin else None)


def _synced(
    status: FieldStatus, vf: VectorField, using: str, check_drift: bool, batch_size: int
) -> None:
    status.store = store_status(vf)
    status.drift = DriftInfo(checked=False)
    if check_drift and status.store.reachable:
        try:
            status.drift = drift_status(vf, using, batch_size)
        except VectraError as exc:
            status.store.reachable = False
            status.store.error = f"{type(exc).__name__}: {exc}"
    if connections[using].vendor == "postgresql":
        status.outbox = outbox_status(vf, using)


def field_status(
    vf: VectorField, using: str, check_drift: bool = True, batch_size: int = 500
) -> FieldStatus:
    """Gather ``vf``'s report from the rows on ``using``, its catalog and its store.

    ``check_drift=False`` skips the comparison of every row with the store, the one part
    whose cost grows with the table.
    """
    inline = vf.is_inline(using)
    meta = vf.model._meta
    status = FieldStatus(
        field=vf.label,
        model=meta.label,
        table=meta.db_table,
        column=vf.column,
        database=using,
        provider_alias=vf.provider,
        provider="pgvector" if inline else provider_name(vf),
        mode="in_place" if inline else "synced",
        index=None if inline else vf.index_name,
        namespace=None if inline else (vf.namespace or ""),
        metric=vf.metric,
        dimensions=int(vf.dimensions),
        precision=vf.precision,
        quantization=vf.quantization,
        embedder=embedder_info(vf),
    )
    try:
        with transaction.atomic(using=using):
            status.rows, status.vectors = _counts(vf, using)
    except DatabaseError as exc:  # not migrated yet: nothing else can be read either
        status.actions.append(
            Action(f"the table cannot be read: {exc}".strip(), "python manage.py migrate")
        )
        return status
    connection = connections[using]
    if connection.vendor == "postgresql":
        status.builds = catalog.builds_on(connection, status.table)
    if inline:
        _in_place(status, vf, using)
    else:
        _synced(status, vf, using, check_drift, batch_size)
    advice.advise(status, vf)
    return status
