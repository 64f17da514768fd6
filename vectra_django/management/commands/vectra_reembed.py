"""``manage.py vectra_reembed app.Model.field``: embed every row again, with a new model.

Prints the work first (rows, characters and tokens for billing), then re-embeds in
resumable batches with a progress bar. ``--embedder`` names the new embedder when the field
is still configured with the old one; ``--shadow`` keeps searches on the old vectors until
the new ones are complete and swaps them in one transaction (fields searched in place).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from ...db import reembed, shadow
from ...db.fields import VectorField, vector_fields
from ...errors import VectraError
from ..progress import row_progress


class Command(BaseCommand):
    help = "Re-embed a vector field's rows with its (or a new) embedder, in resumable batches."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("field", metavar="app_label.ModelName.field")
        parser.add_argument(
            "--embedder", help="Dotted path of the new embedder (default: the field's)."
        )
        parser.add_argument(
            "--shadow", action="store_true", help="Fill a shadow column, then switch at once."
        )
        parser.add_argument("--dry-run", action="store_true", help="Print the estimate only.")
        parser.add_argument(
            "--force", action="store_true", help="Re-embed even if the record names this embedder."
        )
        parser.add_argument("--batch-size", type=int, default=256)
        parser.add_argument(
            "--pause", type=float, default=0.0, help="Seconds between batches (throttle)."
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        if options["batch_size"] < 1 or options["pause"] < 0:
            raise CommandError("--batch-size must be at least 1 and --pause not negative.")
        vf = self.field(options["field"])
        try:
            plan = reembed.plan(vf, options["database"], options["embedder"])
            if options["shadow"]:
                shadow.check(plan)
        except VectraError as exc:
            raise CommandError(str(exc)) from exc
        self.describe(plan)
        before = reembed.recorded(plan)
        if before == plan.identity and plan.resume_after is None and not options["force"]:
            self.stdout.write(
                "  The stored vectors were made by this embedder: nothing to do "
                "(--force re-embeds them)."
            )
            return
        if options["dry_run"]:
            self.stdout.write("  Dry run: nothing was changed.")
            return
        progress = row_progress(self, plan.rows)
        try:
            if options["shadow"]:
                written, late = self.shadow_run(plan, options, progress)
            else:
                written = reembed.run(plan, options["batch_size"], progress, options["pause"])
                late = 0
        finally:
            progress(None)
        extra = f", {late} rows written meanwhile embedded again" if late else ""
        self.stdout.write(f"  Re-embedded {written} rows{extra}." + self.style.SUCCESS(" OK"))

    def shadow_run(
        self, plan: reembed.Plan, options: dict[str, Any], progress: Any
    ) -> tuple[int, int]:
        shadow.prepare(plan)
        size = options["batch_size"]
        written = reembed.run(
            plan, size, progress, options["pause"], write=shadow.write, finish=False
        )

        def embed(pks: list[Any]) -> None:
            rows = list(reembed.source_rows(plan).filter(pk__in=pks).order_by("pk"))
            shadow.write(plan, rows, reembed.embed_rows(plan, rows))

        late = shadow.catch_up(plan, embed, size)
        late += shadow.switch(plan, embed, size, lambda: reembed.finish_record(plan))
        return written, late

    def field(self, label: str) -> VectorField:
        parts = label.split(".")
        if len(parts) != 3:
            raise CommandError(f"Name the field as app_label.ModelName.field, got {label!r}.")
        try:
            model = apps.get_model(parts[0], parts[1])
        except LookupError as exc:
            raise CommandError(f"Unknown model {parts[0]}.{parts[1]!r}.") from exc
        for vf in vector_fields(model):
            if parts[2] in (vf.name, vf.attname):
                return vf
        names = [vf.name for vf in vector_fields(model)]
        raise CommandError(f"{model._meta.label} has no VectorField {parts[2]!r}; it has {names}.")

    def describe(self, plan: reembed.Plan) -> None:
        text = "unknown (a callable source)"
        if plan.characters is not None:
            text = f"{plan.characters:,} characters, about {plan.tokens:,} tokens"
        self.stdout.write(self.style.MIGRATE_HEADING(f"Re-embedding {plan.vf.label}:"))
        self.stdout.write(
            f"  embedder: {plan.identity} (was: {reembed.recorded(plan) or 'not recorded'})"
        )
        self.stdout.write(f"  {plan.rows:,} rows, {text}")
        if plan.resume_after is not None:
            self.stdout.write(f"  Resuming after primary key {plan.resume_after}.")
