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


class BuildProgress:
    """Takes ``pg_stat_progress_create_index`` rows: each phase of an index build as a
    line, and on a terminal a bar of its tuples (or blocks). ``close()`` when done."""

    def __init__(self, command: BaseCommand) -> None:
        self.command = command
        self.phase: str | None = None
        self.bar: Any = None

    def __call__(self, row: dict[str, Any]) -> None:
        total = row["tuples_total"] or row["blocks_total"] or 0
        done = row["tuples_done"] if row["tuples_total"] else row["blocks_done"]
        if row["phase"] != self.phase:
            self.phase = row["phase"]
            self.close()
            self.bar = _bar(self.command, total=total or None, desc=row["phase"])
            if self.bar is None and self.command.verbosity >= 1:  # type: ignore[attr-defined]
                self.command.stdout.write(f"    index build: {row['phase']}")
        if self.bar is not None:
            self.bar.total = total or None
            self.bar.n = done or 0
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


build_progress = BuildProgress
