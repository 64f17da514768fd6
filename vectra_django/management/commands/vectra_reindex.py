"""``manage.py vectra_reindex``: make provider indexes equal to the tables, in batches, or
(``--check``) report how they differ."""

from __future__ import annotations

import functools
import time
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError
from django.db.models import Model

from ...client.validation import Batch
from ...db import drift
from ...db.fields import VectorField, vector_fields, vector_id
from ...db.loading import can_bulk_load, checked_batch, load_rows
from ...db.pipeline import Writer, in_transaction, without_cyclic_gc
from ...db.reindex import values_rows
from ...db.sync.ops import resync_changed, row_version
from ...db.text import record_attnames
from ...errors import NotFoundError, UnsupportedFeatureError, VectraError
from ..progress import build_progress, row_progress
from ..selection import add_model_arguments, models_named


def write_batch(
    client: Any, index: str, namespace: str, batch: Batch | None, missing: list[str]
) -> None:
    """One batch's writes: its checked vectors upserted, the entries of its NULL vectors
    deleted."""
    if batch is not None:
        client._upsert_checked(index, batch, namespace)
    if missing:
        client.delete(index, ids=missing, namespace=namespace)


class Command(BaseCommand):
    help = (
        "Make the provider indexes of models with vector fields equal to their tables: "
        "upsert every row's vector, remove entries whose rows are gone. --check reports "
        "the differences instead, and exits non-zero when there are any."
    )

    def add_arguments(self, parser: Any) -> None:
        add_model_arguments(parser, "Models to reindex (default: every model with a vector field).")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Rows read and vectors written per batch (default 500).",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=2,
            help="Threads writing batches while the next ones are read (default 2; 0 writes "
            "each batch before reading on). Stores that cannot take concurrent writes get one.",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Compare tables and indexes (missing, stale and ghost vectors); write "
            "nothing; exit 1 when they differ.",
        )
        parser.add_argument(
            "--clear",
            action="store_true",
            help="Delete the model's vectors from each index namespace before reindexing.",
        )
        parser.add_argument(
            "--remove",
            action="store_true",
            help="Delete index entries whose rows are gone or have no vector (the default; "
            "fails instead of skipping when the store cannot list ids).",
        )
        parser.add_argument(
            "--keep-extra",
            action="store_true",
            help="Leave index entries whose rows are gone (no removal pass).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; write nothing."
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation before --clear.",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help='Database to read the rows from (default "default").',
        )

    def handle(self, *labels: str, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        self.options = options
        self.validate(options)
        targets = self.targets(labels)
        if self.verbosity >= 1:
            mode = "Checking" if options["check"] else "Reindexing"
            heading = f"{mode} vectors" + (" (dry run):" if options["dry_run"] else ":")
            self.stdout.write(self.style.MIGRATE_HEADING(heading))
        drifted = []
        for vf, asked in targets:
            name = vf.label + (f" (for {asked})" if asked else "")
            if vf.is_inline(options["database"]):
                if self.verbosity >= 1:
                    self.stdout.write(
                        f"  {name}: "
                        + self.style.NOTICE("searched in place; the column is the index.")
                    )
                continue
            try:
                if options["check"]:
                    if self.check_field(name, vf):
                        drifted.append(vf.model._meta.label)
                else:
                    self.reindex(name, vf)
            except (VectraError, DatabaseError) as exc:
                verb = "Checking" if options["check"] else "Reindexing"
                raise CommandError(
                    f"{verb} {name} against {vf.index_name!r} (VECTRA alias {vf.provider!r}) "
                    f"failed: {type(exc).__name__}: {exc}. Fix the store, database or settings "
                    "and run the command again; it resumes safely (rows already written stay "
                    "written, upserts are idempotent)."
                ) from exc
        if drifted:
            models = " ".join(dict.fromkeys(drifted))
            raise CommandError(
                f"The indexes differ from the tables. Repair: python manage.py vectra_reindex "
                f"{models}"
            )

    def validate(self, options: dict[str, Any]) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be a positive integer.")
        if options["workers"] < 0:
            raise CommandError("--workers must be 0 or more.")
        given = [f for f in ("check", "clear", "remove", "keep_extra") if options[f]]
        conflicts = {
            "check": {"clear", "remove", "keep_extra"},
            "clear": {"remove", "keep_extra"},
            "remove": {"keep_extra"},
        }
        for flag in given:
            clash = sorted(conflicts.get(flag, set()) & set(given))
            if clash:
                a, b = (f"--{f.replace('_', '-')}" for f in (flag, clash[0]))
                raise CommandError(f"{a} and {b} cannot be combined.")

    def targets(self, labels: tuple[str, ...]) -> list[tuple[VectorField, str]]:
        """The vector fields to work on, each once, with the label the user named when the
        field is inherited from a multi-table parent (it is the parent's: its rows, its ids)."""
        found: dict[tuple[type[Model], str], tuple[VectorField, str]] = {}
        for model in self.models(labels):
            for vf in vector_fields(model):
                asked = model._meta.label if vf.model is not model and labels else ""
                found.setdefault((vf.model, vf.name), (vf, asked))
        return list(found.values())

    def models(self, labels: tuple[str, ...]) -> list[type[Model]]:
        if not labels:
            return [m for m in apps.get_models() if vector_fields(m) and not m._meta.proxy]
        found: list[type[Model]] = []
        for label in labels:
            with_vectors = [
                m for m in models_named(label) if vector_fields(m) and not m._meta.proxy
            ]
            if not with_vectors:
                raise CommandError(f"{label!r} has no model with a VectorField.")
            found += [m for m in with_vectors if m not in found]
        return found

    # -- checking ------------------------------------------------------------------------------

    def check_field(self, name: str, vf: VectorField) -> bool:
        """Report ``vf``'s drift; returns whether there is any."""
        from ...models import SyncEntry

        using = self.options["database"]
        found = drift.check(vf, using, self.options["batch_size"])
        pending = SyncEntry.objects.using(using).filter(model=vf.model._meta.label).count()
        if self.verbosity >= 1:
            ghosts = str(found.ghosts) if found.listed else f"{found.ghosts} (of NULL vectors)"
            line = (
                f"  {name} -> {vf.provider}:{vf.index_name!r}: {found.rows} vectors in the "
                f"table, {found.missing} missing, {found.stale} stale, {ghosts} ghosts"
            )
            style = self.style.ERROR if found.found else self.style.SUCCESS
            self.stdout.write(style(line))
            for example in found.examples:
                self.stdout.write(f"    {example}")
            if not found.listed:
                self.stdout.write(
                    "    The store cannot list ids: entries of deleted rows are not counted."
                )
            if pending:
                self.stdout.write(
                    f"    {pending} sync outbox entries pending (manage.py vectra_sync drains "
                    "them); drift they cover clears when they are drained."
                )
        return found.found

    # -- one field ----------------------------------------------------------------------------

    def reindex(self, name: str, vf: VectorField) -> None:
        options = self.options
        client = vf.client()
        index, namespace, dry_run = vf.index_name, vf.namespace, options["dry_run"]
        where = f"{index!r}" + (f" namespace {namespace!r}" if namespace else "")
        if self.verbosity >= 1:
            self.stdout.write(f"  {name} -> {vf.provider}:{where}")
        exists = client.index_exists(index)
        if exists:
            dimension = int(client.describe_index(index)["dimension"])
            if dimension != vf.dimensions:
                raise CommandError(
                    f"Index {index!r} has dimension {dimension} but {name} has {vf.dimensions}. "
                    "Point the field at another index=, or delete that index first."
                )
        # A new index, or one cleared of this model alone, is filled by one bulk load (a
        # shared namespace is cleared id by id first, outside it).
        replace = options["clear"] and exists and not drift.shares_namespace(vf)
        bulk = not dry_run and can_bulk_load(client) and (not exists or options["clear"])
        if options["clear"] and exists:
            if options["interactive"] and not dry_run and not self.confirm_clear(where):
                self.stdout.write("    Reindex cancelled.")
                return
            if not (bulk and replace):
                self.clear(vf, client, where)
        if not exists and not dry_run:
            client.create_index(index, dimension=vf.dimensions, metric=vf.metric)
            self.detail(f"    created index {index!r} ({vf.dimensions} dimensions, {vf.metric})")
        # Nothing stored before the copy: no NULL-vector entry to delete, no ghost to find
        # (a row deleted during the copy is caught by the copy's own recheck).
        empty = not exists or options["clear"] or not self.stored_count(vf, client)
        start = time.monotonic()
        with without_cyclic_gc():
            if bulk:  # one transaction; on pgvector the index is built after the rows
                upserted, deleted = self.load(vf, client, replace), 0
            else:
                upserted, deleted = self.copy_rows(vf, client, not empty)
        removed = 0
        if not empty and not options["keep_extra"]:
            removed = self.remove_ghosts(vf, client)
        if self.verbosity >= 1:
            verb = "would upsert" if dry_run else "upserted"
            summary = f"    {verb} {upserted}, deleted {deleted + removed}"
            if self.verbosity >= 2:
                summary += f" ({time.monotonic() - start:.1f}s)"
            self.stdout.write(summary + self.style.SUCCESS(" OK"))

    def stored_count(self, vf: VectorField, client: Any) -> int:
        return int(client.stats(vf.index_name, namespace=vf.namespace)["vector_count"])

    def confirm_clear(self, where: str) -> bool:
        answer = input(
            f"This deletes every vector of the model in {where} before reindexing.\n"
            "Type 'yes' to continue, or 'no' to cancel: "
        )
        return answer.strip().lower() == "yes"

    def clear(self, vf: VectorField, client: Any, where: str) -> None:
        """Empty the namespace, or, when other models' vectors share it, delete this
        model's own ids only."""
        if not drift.shares_namespace(vf):
            if not self.options["dry_run"]:
                client.delete(vf.index_name, delete_all=True, namespace=vf.namespace)
            self.detail(f"    cleared {where}")
            return
        try:
            removed = 0
            for page in drift.pages(
                drift.own_ids(client, vf, self.options["batch_size"]), self.options["batch_size"]
            ):
                if not self.options["dry_run"]:
                    client.delete(vf.index_name, ids=page, namespace=vf.namespace)
                removed += len(page)
        except UnsupportedFeatureError as exc:
            raise CommandError(
                f"--clear: other models' vectors share {where}, and {client.provider_name!r} "
                "cannot list ids to delete only this model's. Reindex without --clear."
            ) from exc
        self.detail(f"    cleared {removed} vector(s) of {vf.model._meta.label} from {where}")

    def copy_rows(self, vf: VectorField, client: Any, delete_nulls: bool) -> tuple[int, int]:
        """Upsert every row with a vector, in keyset batches (``pk > last``, never OFFSET).

        Rows are read as values, with vectors in binary (:mod:`vectra_django.db.reindex`),
        and each batch goes to the provider as one float32 matrix, written while the next
        batch is read (see :class:`~vectra_django.db.pipeline.Writer`). Each row's version
        is read with it; once its batch is written, rows that changed meanwhile are
        re-synced (on this thread, between reads), so a concurrent write never ends older
        than this copy.
        """
        batch_size, dry_run = self.options["batch_size"], self.options["dry_run"]
        using = self.options["database"]
        model = vf.model
        index, namespace = vf.index_name, client._namespace(vf.namespace)
        columns = ["pk", vf.attname, *record_attnames(vf), "_vectra_version"]
        base = (
            model._base_manager.using(using)
            .annotate(_vectra_version=row_version(model, using))
            .order_by("pk")
        )
        progress = self.progress(base.count())
        upserted = deleted = 0
        last = None
        workers = 0 if dry_run or in_transaction() else self.options["workers"]
        if not getattr(client.provider, "concurrent_writes", False):  # a custom provider: one
            workers = min(workers, 1)
        writer = Writer(workers)
        try:
            while True:
                page = base if last is None else base.filter(pk__gt=last)
                rows = values_rows(page[:batch_size], *columns, raw_vectors=True)
                if not rows:
                    break
                first, last = last, rows[-1][0]
                present = [row for row in rows if row[1] is not None]
                missing = [vector_id(model, row[0]) for row in rows if row[1] is None]
                if not delete_nulls:
                    missing = []
                if (present or missing) and not dry_run:
                    batch = None
                    if present:  # checked here, while the worker writes the previous batch
                        batch = checked_batch(client, vf, [row[:-1] for row in present])
                    versions = {row[0]: row[-1] for row in rows}
                    recheck = functools.partial(resync_changed, using, vf, versions, first)
                    writer.submit(
                        write_batch, client, index, namespace, batch, missing, after=recheck
                    )
                upserted += len(present)
                deleted += len(missing)
                progress(len(rows))
                writer.run_done()
        finally:
            try:
                writer.close()
            finally:
                progress(None)
        return upserted, deleted

    def load(self, vf: VectorField, client: Any, replace: bool) -> int:
        """Fill a new or replaced index with one bulk load (see :mod:`...db.loading`)."""
        progress = self.progress(vf.model._base_manager.using(self.options["database"]).count())
        building = build_progress(self)
        try:
            return load_rows(
                vf,
                client,
                self.options["database"],
                self.options["batch_size"],
                replace,
                progress,
                building,
            )
        finally:
            progress(None)
            building.close()

    def remove_ghosts(self, vf: VectorField, client: Any) -> int:
        """Delete this model's entries whose row is gone or has no vector, page by page
        (each page's ghosts are deleted before the next page is read, which listing allows)."""
        batch_size = self.options["batch_size"]
        removed = 0
        try:
            for page in drift.pages(drift.own_ids(client, vf, batch_size), batch_size):
                ghosts = drift.ghost_ids(vf, self.options["database"], page)
                if ghosts and not self.options["dry_run"]:
                    client.delete(vf.index_name, ids=ghosts, namespace=vf.namespace)
                removed += len(ghosts)
                self.detail(f"    {len(ghosts)} ghost id(s) in a page of {len(page)}")
        except UnsupportedFeatureError as exc:
            advice = (
                f"{client.provider_name!r} cannot list ids, so entries of deleted rows cannot "
                "be found. Run with --clear to rebuild the index from the table."
            )
            if self.options["remove"]:
                raise CommandError(f"--remove: {advice}") from exc
            self.stdout.write(self.style.WARNING(f"    Ghosts not removed: {advice}"))
        except NotFoundError:
            pass  # the index went away meanwhile: nothing left to remove
        return removed

    # -- output -------------------------------------------------------------------------------

    def detail(self, message: str) -> None:
        if self.verbosity >= 2:
            self.stdout.write(message)

    def progress(self, total: int) -> Any:
        return row_progress(self, total)
