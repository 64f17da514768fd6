from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ...client import validation
from ...errors import ValidationError
from ...installer import (
    PROVIDERS,
    Change,
    apply,
    change,
    dotenv,
    migration,
    progress,
    read_text,
    steps,
)
from ...installer import settings_file as sf
from ...installer.templates import API_KEY_VARIABLES, Options, paste_block, settings_module


class Command(BaseCommand):
    help = "Write the VECTRA settings, .env key and pgvector migration for a vector store."
    requires_system_checks: list[str] = []  # the settings this command writes may be missing

    def add_arguments(self, parser):
        parser.add_argument(
            "--provider", required=True, choices=PROVIDERS, help="The vector store to use."
        )
        parser.add_argument(
            "--instrumentation",
            action="store_true",
            help="Turn VECTRA_INSTRUMENTATION on and add commented New Relic/Datadog setup.",
        )
        parser.add_argument(
            "--app",
            dest="app_label",
            help="pgvector only (required): the app that gets the extension migration.",
        )
        parser.add_argument("--index", help="Default index name of the 'default' alias.")
        parser.add_argument(
            "--api-key", help="Pinecone/Qdrant API key, written to the project's .env file."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would change without writing."
        )
        parser.add_argument(
            "--force", action="store_true", help="Replace an existing, different VECTRA setup."
        )

    def handle(self, *, provider, app_label, index, api_key, dry_run, force, **options):
        self.verbosity = options["verbosity"]
        self.notes: list[str] = []  # warnings shown under the heading, after the file list
        self._check_arguments(provider, app_label, index, api_key)
        opts = Options(provider, options["instrumentation"], index)
        try:
            target, layout_error = sf.locate(settings.SETTINGS_MODULE), None
        except sf.LayoutError as exc:
            target, layout_error = None, str(exc)
        root = _project_root(target)

        changes: list[Change] = []
        if target is not None:
            changes += self._settings_changes(target, opts, root, force, dry_run)
        migration_name = None
        if provider == "pgvector":
            written, existing = migration.plan(app_label)
            changes += written
            migration_name = f"{app_label}.{existing or written[-1].path.stem}"
            if existing and self.verbosity >= 2:
                self.notes.append(f"{migration_name} already enables the vector extension.")
        if api_key:
            changes += self._env_changes(root, API_KEY_VARIABLES[provider], api_key)

        self._report(changes, root, dry_run)
        if not dry_run:
            apply(changes)
        if layout_error:
            self.stdout.write(self.style.MIGRATE_HEADING("Add this block to your settings:"))
            self.stdout.write(paste_block(opts), ending="")
        if self.verbosity >= 1:
            self._next_steps(opts, root, migration_name, changes, layout_error is None)
        if layout_error:
            raise CommandError(
                f"{layout_error}. Paste the block printed above at the end of your settings "
                "file (it needs BASE_DIR, the project root)."
            )

    def _next_steps(
        self,
        opts: Options,
        root: Path,
        migration_name: str | None,
        changes: list[Change],
        has_settings: bool,
    ) -> None:
        """Print what is left to do; nothing is repeated once it is done."""
        found = progress.detect(opts.provider, root)
        written = {item.path.name for item in changes}
        lines = steps.next_steps(
            opts,
            found,
            migration=migration_name,
            has_settings=has_settings,
            wrote_settings="vectra_settings.py" in written or not has_settings,
        )
        if not lines:
            ready = ", ".join(found.fields)
            self.stdout.write(self.style.SUCCESS(f"Set up: {ready} can be searched."))
            return
        self.stdout.write(self.style.MIGRATE_HEADING("Next steps:"))
        for line in lines:
            self.stdout.write(self.style.NOTICE(f"  {line}"))

    def _check_arguments(self, provider, app_label, index, api_key):
        if provider == "pgvector" and not app_label:
            raise CommandError(
                "pgvector needs an app to hold the migration that enables the extension. "
                "Rerun with --app <app_label>."
            )
        if provider != "pgvector" and app_label:
            raise CommandError("--app is only used with --provider=pgvector. Drop --app.")
        if api_key is not None and provider not in API_KEY_VARIABLES:
            raise CommandError(
                f"{provider} takes no API key. Drop --api-key, or choose pinecone or qdrant."
            )
        if index is not None:
            try:
                validation.index_name(index)
            except ValidationError as exc:
                raise CommandError(f"{exc} Rerun with a valid --index.") from exc

    def _settings_changes(self, target, opts, root, force, dry_run) -> list[Change]:
        text = read_text(target.path) or ""
        module = settings_module(opts, sf.env_parent(target, root))
        block = sf.block(target)
        old_module = read_text(target.vectra_path)
        _rest, old_block = sf.split_block(text)
        conflicts = []
        if old_module is not None and old_module != module:
            conflicts.append(f"{target.vectra_path} holds a different configuration")
        if old_block is not None and old_block != block:
            conflicts.append(f"the vectra_django block in {target.path} was edited")
        if sf.defines_vectra(text):
            conflicts.append(f"{target.path} assigns VECTRA itself")
        if conflicts and not force:
            raise CommandError(
                f"{_sentence('; '.join(conflicts))}, so nothing was written. Rerun with "
                "--force to replace it; '--dry-run --force' shows the changes first."
            )
        verb = "Would replace" if dry_run else "Replacing"
        self.notes += [f"{verb} the existing setup: {conflict}." for conflict in conflicts]
        if conflicts and sf.defines_vectra(text):
            self.notes.append(
                "The block at the end of settings overrides the VECTRA assigned earlier in "
                "the file; delete that assignment."
            )
        found = [
            change(target.vectra_path, module),
            change(target.path, sf.with_block(text, block)),
        ]
        return [c for c in found if c is not None]

    def _env_changes(self, root: Path, name: str, value: str) -> list[Change]:
        env_path = root / ".env"
        found = [
            change(
                env_path,
                dotenv.set_variable(read_text(env_path), name, value),
                mode=0o600,
                secret=True,
            )
        ]
        gitignore = read_text(root / ".gitignore")
        where = "add it to .gitignore"
        if gitignore is not None:
            where = "it is in .gitignore"
            if not dotenv.ignores_env(gitignore):
                found.append(change(root / ".gitignore", dotenv.ignore_env(gitignore)))
                where = "added to .gitignore"
        if found[0] is not None:
            self.notes.append(
                f"{_relative(env_path, root)} holds {name}: keep it out of version control "
                f"({where})."
            )
        return [c for c in found if c is not None]

    def _report(self, changes: list[Change], root: Path, dry_run: bool) -> None:
        if self.verbosity < 1:
            return
        self.stdout.write(self.style.MIGRATE_HEADING("Installing vectra_django:"))
        if not changes:
            self.stdout.write(self.style.SUCCESS("  Nothing to do: already installed."))
        for item in changes:
            verb = "create" if item.created else "update"
            name = _relative(item.path, root)
            if dry_run:
                self.stdout.write(f"  Would {verb} {name}")
                self.stdout.write(item.diff(root), ending="")
            else:
                self.stdout.write(f"  {verb.capitalize()}d {name}" + self.style.SUCCESS(" OK"))
        for note in self.notes:
            self.stdout.write(self.style.WARNING(f"  {note}"))
        if dry_run:
            self.stdout.write(self.style.NOTICE("  Dry run: nothing was written."))


def _project_root(target: sf.SettingsFile | None) -> Path:
    base_dir = getattr(settings, "BASE_DIR", None)
    if base_dir is not None:
        return Path(base_dir).resolve()
    if target is not None:
        return target.path.parent.parent
    return Path.cwd()


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
