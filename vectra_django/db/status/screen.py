"""A field's report as the lines ``vectra_status`` prints: one screen per field, what needs
action last, each with the command that fixes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import FieldStatus
    from .catalog import BuildInfo, IndexInfo

_WIDTH = 13  # the labels' column


def size(n: int) -> str:
    """Bytes as people read them (``8 kB``, ``1.5 MB``)."""
    value = float(n)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns first


def _line(label: str, text: str) -> str:
    return f"  {label:<{_WIDTH}}{text}"


def _where(status: FieldStatus) -> str:
    head = f"{status.provider_alias} ({status.provider or 'unknown provider'}), "
    if status.in_place:
        return head + f"searched in place on {status.table}.{status.column}"
    namespace = f"namespace {status.namespace!r}" if status.namespace else "default namespace"
    return head + f"synced to index {status.index!r}, {namespace}"


def _embedder(status: FieldStatus) -> str:
    info = status.embedder
    if info is None:
        return "none (the application assigns the vectors)"
    if info.error is not None:
        return f"unusable: {info.error}"
    model = f", model {info.model!r}" if info.model else ""
    return f"{info.name}{model}, {info.dimension} dimensions"


def _shape(status: FieldStatus) -> str:
    shape = f"{status.dimensions} dimensions, {status.metric}"
    if status.precision != "single":
        shape += f", {status.precision} precision"
    if status.quantization:
        shape += f", {status.quantization} quantization"
    return shape


def _index(index: IndexInfo) -> str:
    options = " ".join(f"{k}={v}" for k, v in index.options.items()) or "default options"
    flags = "" if index.valid else ", INVALID"
    return (
        f"{index.name}: {index.method}, {index.opclass}, {options}, {size(index.size_bytes)}{flags}"
    )


def _plan(status: FieldStatus) -> str:
    plan = status.plan
    if plan is None:
        return "not explained"
    if plan.error is not None:
        return f"cannot be explained: {plan.error}"
    if plan.uses_index:
        return f"uses {plan.index} ({plan.scan})"
    return f"does not use a vector index ({plan.scan or 'no scan of the table'})"


def _build(build: BuildInfo) -> str:
    done = f"blocks {build.blocks_done:,}/{build.blocks_total:,}"
    done += f", tuples {build.tuples_done:,}/{build.tuples_total:,}"
    return f"{build.command} {build.index or '(index not created yet)'}: {build.phase}; {done}"


def _synced(status: FieldStatus) -> list[str]:
    lines = []
    store, drift, outbox = status.store, status.drift, status.outbox
    if store is not None:
        if not store.reachable:
            text = f"unreachable: {store.error}"
        elif not store.index_exists:
            text = "index does not exist yet"
        else:
            text = f"{store.vectors:,} vectors (index of {store.dimension} dimensions)"
        lines.append(_line("store", text))
    if drift is not None:
        text = "not checked"
        if drift.checked:
            text = f"{drift.missing} missing, {drift.stale} stale, {drift.ghosts} ghosts"
        lines.append(_line("drift", text))
        lines += [_line("", example) for example in drift.examples]
    if outbox is not None:
        text = f"unreadable: {outbox.error}"
        if outbox.readable:
            text = f"{outbox.pending} pending, {outbox.parked} parked"
        lines.append(_line("outbox", text))
    return lines


def _in_place(status: FieldStatus) -> list[str]:
    lines = [_line("index", _index(i)) for i in status.ann_indexes] or [
        _line("index", "none on this column")
    ]
    lines.append(_line("search plan", _plan(status)))
    if status.keyword is not None:
        keyword = status.keyword
        text = f"{keyword.column}: " + (
            "missing" if not keyword.exists else f"GIN index {keyword.gin_index or 'missing'}"
        )
        lines.append(_line("keyword", text))
    return lines


def render(status: FieldStatus, style: Any) -> list[str]:
    """The lines of one field's screen; ``style`` is the command's (colours on a terminal)."""
    lines = [
        style.MIGRATE_HEADING(status.field),
        _line("provider", _where(status)),
        _line("embedder", _embedder(status)),
        _line("vectors", _shape(status)),
        _line("rows", f"{status.rows:,} in the table, {status.vectors:,} with a vector"),
    ]
    lines += _in_place(status) if status.in_place else _synced(status)
    builds = [_line("build", _build(b)) for b in status.builds]
    lines += builds or [_line("build", "none running")]
    lines += [_line("note", note) for note in status.notes]
    if not status.actions:
        lines.append(_line("status", style.SUCCESS("OK")))
        return lines
    lines.append(_line("status", style.ERROR("needs action")))
    for action in status.actions:
        lines.append(style.ERROR(f"    - {action.problem}"))
        lines.append(f"      fix: {action.fix}")
    return lines
