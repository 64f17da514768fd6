"""Progress of long commands: rows copied and an index build's phases."""

from __future__ import annotations

import io

from django.core.management.base import BaseCommand, OutputWrapper

from vectra_django.management.progress import BuildProgress, row_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def command(stream: io.StringIO, verbosity: int = 1) -> BaseCommand:
    cmd = BaseCommand(stdout=stream)
    cmd.stdout = OutputWrapper(stream)
    cmd.verbosity = verbosity
    return cmd


def row(phase: str, done: int, total: int) -> dict:
    return {
        "phase": phase,
        "tuples_done": done,
        "tuples_total": total,
        "blocks_done": 0,
        "blocks_total": 0,
    }


def test_a_build_without_a_terminal_prints_each_phase_once() -> None:
    out = io.StringIO()
    building = BuildProgress(command(out))
    for update in (
        row("initializing", 0, 0),
        row("loading tuples", 5, 10),
        row("loading tuples", 9, 10),
    ):
        building(update)
    building.close()
    assert out.getvalue().splitlines() == [
        "    index build: initializing",
        "    index build: loading tuples",
    ]


def test_a_build_on_a_terminal_draws_a_bar_per_phase() -> None:
    out = Terminal()
    building = BuildProgress(command(out))
    building(row("loading tuples", 40, 100))
    assert building.bar is not None and building.bar.n == 40 and building.bar.total == 100
    building(row("loading tuples", 90, 100))
    assert building.bar.n == 90
    building.close()
    assert building.bar is None
    assert "loading tuples" in out.getvalue()


def test_rows_on_a_terminal_draw_a_bar_and_quiet_commands_print_nothing() -> None:
    out = Terminal()
    update = row_progress(command(out), 10)
    update(4)
    update(6)
    update(None)
    assert "/10" in out.getvalue()  # tqdm drew the bar
    quiet = io.StringIO()
    update = row_progress(command(quiet, verbosity=0), 10)
    update(10)
    update(None)
    building = BuildProgress(command(quiet, verbosity=0))
    building(row("loading tuples", 1, 2))
    assert quiet.getvalue() == ""
