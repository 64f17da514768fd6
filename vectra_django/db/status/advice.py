"""What in a field's report needs doing, and the command or change that does it.

An *action* makes ``vectra_status`` exit non-zero: drift, parked outbox entries, a store
that does not answer, a large table that searches scan instead of using an index, an index
that cannot serve the field, a migration not applied. A *note* explains what is fine as it
is (a small table that the planner rightly scans, a backlog being drained).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..fields import VectorField
    from . import FieldStatus

# Rows with a vector from which a search that reads the whole table costs enough to act on.
LARGE_TABLE = 10_000

MIGRATE = "python manage.py makemigrations && python manage.py migrate"


@dataclass
class Action:
    """Something that needs doing: what is wrong, and the command or change that fixes it."""

    problem: str
    fix: str


def _act(status: FieldStatus, problem: str, fix: str) -> None:
    status.actions.append(Action(problem, fix))


def _dbshell(status: FieldStatus, statement: str) -> str:
    database = "" if status.database == "default" else f" --database {status.database}"
    return f"python manage.py dbshell{database} -- -c '{statement}'"


def index_declaration(vf: VectorField) -> str:
    """The ``Meta.indexes`` entry that serves the field's searches."""
    name = f"{vf.model._meta.db_table[:20]}_{vf.name[:20]}_hnsw"
    if vf.quantization == "binary":
        return f'binary_quantized_index("{vf.name}", {vf.dimensions}, name="{name}")'
    precision = ', precision="half"' if vf.precision == "half" else ""
    return (
        f'HnswIndex(name="{name}", fields=["{vf.name}"], '
        f'opclasses=[opclass("{vf.metric}"{precision})])'
    )


def advise(status: FieldStatus, vf: VectorField) -> None:
    """Fill ``status.actions`` and ``status.notes``."""
    _embedder(status)
    if status.in_place:
        _index(status, vf)
        _plan(status)
        _keyword(status)
    else:
        _store(status)
        _outbox(status)
        if not vf.auto_index:
            status.notes.append(
                "auto_index=False: saves are not synced; index_vector() or vectra_reindex "
                "write the store."
            )


def _embedder(status: FieldStatus) -> None:
    info = status.embedder
    if info is None:
        return
    if info.error is not None:
        _act(status, f"the embedder cannot be used: {info.error}", "python manage.py check")
    elif info.dimension != status.dimensions:
        _act(
            status,
            f"the embedder gives {info.dimension}-dimensional vectors and the column holds "
            f"{status.dimensions}",
            "python manage.py check (its hint says what to change)",
        )


def _index(status: FieldStatus, vf: VectorField) -> None:
    building = {b.index for b in status.builds}
    for index in status.ann_indexes:
        if not index.valid and index.name in building:
            status.notes.append(f"{index.name} is being built; searches use it once it is done.")
        elif not index.valid:
            _act(
                status,
                f"{index.name} is invalid (a concurrent build failed or was interrupted); "
                "searches cannot use it",
                _dbshell(status, f'REINDEX INDEX CONCURRENTLY "{index.name}"'),
            )
    if not status.ann_indexes:
        fix = (
            f"add {index_declaration(vf)} to {status.model}.Meta.indexes "
            f"(from vectra_django.indexes), then {MIGRATE}"
        )
        if status.vectors >= LARGE_TABLE:
            _act(
                status,
                f"no vector index on {status.column}: every search reads all "
                f"{status.vectors:,} vectors",
                fix,
            )
        else:
            status.notes.append(
                f"no vector index: every search reads the whole table, which is fine at "
                f"{status.vectors:,} vectors; before it grows past {LARGE_TABLE:,}, {fix}."
            )
    elif not any(index.serves_metric for index in status.ann_indexes):
        found = ", ".join(f"{i.name} ({i.opclass})" for i in status.ann_indexes)
        _act(
            status,
            f"no index serves {status.metric} searches on {status.column}: {found}",
            f"declare {index_declaration(vf)} in {status.model}.Meta.indexes, then {MIGRATE}",
        )


def _plan(status: FieldStatus) -> None:
    plan = status.plan
    if plan is None or plan.uses_index or not status.ann_indexes:
        return
    if plan.error is not None:
        _act(
            status,
            f"a typical search cannot be planned: {plan.error}",
            "python manage.py check && python manage.py migrate",
        )
        return
    names = ", ".join(index.name for index in status.ann_indexes)
    if plan.usable:
        if status.vectors >= LARGE_TABLE:
            _act(
                status,
                f"searches read all {status.vectors:,} rows ({plan.scan}) although {names} "
                "could serve them; the table's statistics may be stale",
                _dbshell(status, f'ANALYZE "{status.table}"'),
            )
        else:
            status.notes.append(
                f"the planner reads the table ({plan.scan}) rather than {names}: cheaper at "
                f"{status.vectors:,} vectors (with sequential scans off it does use the "
                "index); it switches as the table grows."
            )
        return
    indexes = status.ann_indexes
    if not any(i.serves_metric for i in indexes) or not all(i.valid for i in indexes):
        return  # already said, with its own fix
    _act(
        status,
        f"searches cannot use {names}: the plan reads the table ({plan.scan}) even with "
        "sequential scans off",
        f"check that the index's expression and operator class match the field's precision "
        f"and quantization, then {MIGRATE}",
    )


def _keyword(status: FieldStatus) -> None:
    keyword = status.keyword
    if keyword is None:
        return
    if not keyword.exists:
        _act(status, f"the keyword column {keyword.column} is missing", MIGRATE)
    elif keyword.gin_index is None:
        _act(status, f"the keyword column {keyword.column} has no GIN index", MIGRATE)


def _store(status: FieldStatus) -> None:
    store, drift, model = status.store, status.drift, status.model
    assert store is not None and drift is not None
    if not store.reachable:
        _act(
            status,
            f"the store did not answer: {store.error}",
            f"check the store and VECTRA[{status.provider_alias!r}], then "
            f"python manage.py vectra_status {status.field}",
        )
        return
    if store.dimension is not None and store.dimension != status.dimensions:
        _act(
            status,
            f"index {status.index!r} holds {store.dimension}-dimensional vectors and the "
            f"field {status.dimensions}",
            f"point the field at another index=, or delete that index and run "
            f"python manage.py vectra_reindex {model}",
        )
    if not store.index_exists:
        if status.vectors and not drift.checked:
            _act(
                status,
                f"index {status.index!r} does not exist and {status.vectors:,} rows have a vector",
                f"python manage.py vectra_reindex {model}",
            )
        elif not status.vectors:
            status.notes.append(f"index {status.index!r} is created on the first write.")
    if not drift.checked:
        status.notes.append("drift not checked (--no-drift).")
        return
    if drift.found:
        _act(
            status,
            f"the store differs from the table: {drift.missing} missing, {drift.stale} stale, "
            f"{drift.ghosts} ghosts",
            f"python manage.py vectra_reindex {model}",
        )
    if not drift.ghosts_complete:
        status.notes.append("the store cannot list ids: ghosts of deleted rows are not counted.")


def _outbox(status: FieldStatus) -> None:
    outbox = status.outbox
    if outbox is None:
        return
    if not outbox.readable:
        _act(
            status,
            f"the sync outbox is not readable: {outbox.error}",
            f"python manage.py migrate vectra_django --database {status.database}",
        )
        return
    if outbox.parked:
        _act(
            status,
            f"{outbox.parked} outbox entr{'y' if outbox.parked == 1 else 'ies'} parked after "
            "failing too often (python manage.py vectra_sync --list shows the errors)",
            f"python manage.py vectra_sync --retry-parked {status.model}",
        )
    if outbox.pending:
        drift = status.drift
        covers = " (it may account for the drift above)" if drift and drift.found else ""
        status.notes.append(
            f"{outbox.pending} outbox entr{'y' if outbox.pending == 1 else 'ies'} pending since "
            f"{outbox.oldest_pending}{covers}: drained after each commit or by "
            "python manage.py vectra_sync."
        )
