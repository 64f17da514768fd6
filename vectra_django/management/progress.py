"""Progress of long commands: rows copied, and an index build's phase."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand


def _bar(command: BaseCommand, **options: Any) -> Any:
    """A tqdm bar on the command's terminal, or ``None`` (no terminal, no tqdm, quiet)."""
    if command.verbosity < 1 or not command.stdout.isatty():  # type: ignore[attr-defined]
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(leave=False, file=command.stdout._out, **options)


def row_progress(command: BaseCommand, total: int) -> Callable[[int | None], None]:
    """A callable taking a row count (``None`` closes): a bar on a terminal, else lines."""
    bar = _bar(command, total=total, unit="row")
    done = 0

    def update(n: int | None) -> None:
        nonlocal done
        if n is None:
            if bar is not None:
                bar.close()
            return
        done += n
        if bar is not None:
            bar.update(n)
        elif command.verbosity >= 2:  # type: ignore[attr-defined]
            command.stdout.write(f"    {done}/{total} rows")

    return update


def build_progress(command: BaseCommand) -> Callable[[dict[str, Any]], None]:
    """A callable taking ``pg_stat_progress_create_index`` rows: each phase of the build
    as a line, and on a terminal a bar of its tuples (or blocks)."""
    state: dict[str, Any] = {"phase": None, "bar": None}

    def update(row: dict[str, Any]) -> None:
        total = row["tuples_total"] or row["blocks_total"] or 0
        done = row["tuples_done"] if row["tuples_total"] else row["blocks_done"]
        if row["phase"] != state["phase"]:
            state["phase"] = row["phase"]
            if state["bar"] is not None:
                state["bar"].close()
            state["bar"] = _bar(command, total=total or None, desc=row["phase"])
            if state["bar"] is None and command.verbosity >= 1:  # type: ignore[attr-defined]
                command.stdout.write(f"    index build: {row['phase']}")
        bar = state["bar"]
        if bar is not None:
            bar.total = total or None
            bar.n = done or 0
            bar.refresh()

    return update
