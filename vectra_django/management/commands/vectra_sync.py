"""``manage.py vectra_sync``: drain the sync outbox now, or keep draining as a worker."""

from __future__ import annotations

import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import Count, Min, Q
from django.db.models.functions import Now

from ...db.sync import drain, synced_fields
from ...db.sync.drain import DrainResult
from ...models import SyncEntry
from ..selection import add_model_arguments, models_named


class Command(BaseCommand):
    help = (
        "Write the rows named in the sync outbox to their vector stores: every entry due "
        "now (then exit), or continuously with --forever."
    )

    def add_arguments(self, parser: Any) -> None:
        add_model_arguments(parser, "Only these models' entries (default: all).")
        parser.add_argument(
            "--forever",
            action="store_true",
            help="Keep draining as entries arrive, until SIGINT/SIGTERM (a worker).",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="With --forever, seconds to wait when the outbox is empty (default 1).",
        )
        parser.add_argument(
            "--retry-parked",
            action="store_true",
            help="Make parked entries (failed too often) due again before draining.",
        )
        parser.add_argument(
            "--list",
            action="store_true",
            help="Show the backlog and the parked entries; write nothing.",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help='Database whose outbox to drain (default "default").',
        )

    def handle(self, *labels: str, **options: Any) -> None:
        using = options["database"]
        self.verbosity = options["verbosity"]
        if using not in connections:
            raise CommandError(f"Unknown database {using!r}; configured: {sorted(connections)}.")
        if options["list"] and (options["forever"] or options["retry_parked"]):
            flag = "--forever" if options["forever"] else "--retry-parked"
            raise CommandError(f"--list writes nothing; it cannot be combined with {flag}.")
        if options["interval"] <= 0:
            raise CommandError("--interval must be a positive number of seconds.")
        models = self.labels(labels, using) if labels else None
        entries = SyncEntry.objects.using(using)
        if models is not None:
            entries = entries.filter(model__in=models)
        try:
            entries.exists()
        except DatabaseError as exc:
            raise CommandError(
                f"The sync outbox is not readable on {using!r} ({exc}). "
                f"Run manage.py migrate vectra_django --database {using}."
            ) from exc
        if options["list"]:
            self.list(entries)
            return
        if options["retry_parked"]:
            revived = entries.filter(parked=True).update(
                parked=False, attempts=0, available_at=Now()
            )
            self.stdout.write(f"{revived} parked entr{'y' if revived == 1 else 'ies'} made due.")
        if options["forever"]:
            self.work(using, models, options["interval"])
            return
        result = drain(using, recover_after=0, labels=models, until_empty=True)
        self.report(result)
        if result.failed:
            raise CommandError(
                f"{result.failed} entr{'y' if result.failed == 1 else 'ies'} failed: "
                f"{result.error}. They stay in the outbox and are retried with backoff; "
                "fix the store and run manage.py vectra_sync again."
            )

    def labels(self, given: tuple[str, ...], using: str) -> list[str]:
        """The labels of the models declaring synced fields among ``given``."""
        found: list[str] = []
        for label in given:
            declared = [
                f.model._meta.label for m in models_named(label) for f in synced_fields(m, using)
            ]
            if not declared:
                raise CommandError(
                    f"{label!r} has no vector field synced to a store (fields searched in "
                    "place need no sync)."
                )
            found += [d for d in declared if d not in found]
        return found

    def work(self, using: str, labels: list[str] | None, interval: float) -> None:
        stop = False

        def request_stop(signum: int, frame: Any) -> None:
            nonlocal stop
            stop = True

        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        self.stdout.write(f"Draining the outbox of {using!r}; SIGINT or SIGTERM stops.")
        try:
            while not stop:
                result = drain(using, recover_after=0, labels=labels, until_empty=True)
                if result.entries or result.failed:
                    self.report(result)
                if not result.entries or result.failed:
                    deadline = time.monotonic() + interval
                    while not stop and time.monotonic() < deadline:
                        time.sleep(min(0.05, interval))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("Stopped.")

    def report(self, result: DrainResult) -> None:
        if self.verbosity >= 1:
            line = (
                f"Synced {result.entries} entr{'y' if result.entries == 1 else 'ies'}: "
                f"{result.upserted} upserted, {result.deleted} deleted"
            )
            if result.failed:
                line += self.style.ERROR(f", {result.failed} failed ({result.error})")
            self.stdout.write(line)

    def list(self, entries: Any) -> None:
        summary = entries.values("model").annotate(
            pending=Count("id", filter=Q(parked=False)),
            parked=Count("id", filter=Q(parked=True)),
            oldest=Min("created_at"),
        )
        rows = list(summary.order_by("model"))
        if not rows:
            self.stdout.write("The outbox is empty.")
            return
        for row in rows:
            self.stdout.write(
                f"{row['model']}: {row['pending']} pending, {row['parked']} parked, "
                f"oldest {row['oldest']:%Y-%m-%d %H:%M:%S}"
            )
        for entry in entries.filter(parked=True).order_by("id")[:20]:
            self.stdout.write(
                f"  parked: {entry.model} pk={entry.object_pk} after {entry.attempts} "
                f"attempts: {entry.last_error}"
            )
