"""The migration that enables the pgvector extension in a chosen app."""

from __future__ import annotations

import importlib
from pathlib import Path

from django.apps import apps
from django.contrib.postgres.operations import CreateExtension
from django.core.management.base import CommandError
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader

from . import Change, change, templates

NAME = "vector_extension"


def plan(app_label: str) -> tuple[list[Change], str | None]:
    """The files to write for ``app_label``, and the existing migration name if there is one.

    The new migration is numbered after, and depends on, the app's latest migration.
    """
    try:
        app_config = apps.get_app_config(app_label)
    except LookupError:
        raise CommandError(
            f"There is no installed app with label {app_label!r}. Pass the label of an app in "
            "INSTALLED_APPS to --app (for example the app that will hold your vector models)."
        ) from None
    loader = MigrationLoader(None, ignore_no_migrations=True)
    for (label, name), migration in loader.disk_migrations.items():
        if label == app_label and any(_creates_vector(op) for op in migration.operations):
            return [], name

    module_name, _explicit = MigrationLoader.migrations_module(app_label)
    if module_name is None:
        raise CommandError(
            f"Migrations are disabled for app {app_label!r} (MIGRATION_MODULES maps it to None). "
            "Pass another app to --app."
        )
    leaves = loader.graph.leaf_nodes(app_label)
    if len(leaves) > 1:
        raise CommandError(
            f"App {app_label!r} has conflicting migrations {sorted(n for _a, n in leaves)}. "
            "Run 'python manage.py makemigrations --merge' first."
        )
    number = max((MigrationAutodetector.parse_number(n) or 0 for _a, n in leaves), default=0) + 1
    directory = _package_dir(module_name, app_config, app_label)
    changes = []
    if not (directory / "__init__.py").exists():
        changes.append(change(directory / "__init__.py", ""))
    filename = f"{number:04d}_{NAME}.py"
    changes.append(change(directory / filename, templates.migration(list(leaves))))
    return [c for c in changes if c is not None], None


def _creates_vector(operation: object) -> bool:
    return isinstance(operation, CreateExtension) and operation.name == "vector"


def _package_dir(module_name: str, app_config, app_label: str) -> Path:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        module = None
    if module is not None and getattr(module, "__file__", None):
        return Path(module.__file__).parent
    if module_name == f"{app_config.name}.migrations":
        return Path(app_config.path) / "migrations"
    raise CommandError(
        f"The migrations module {module_name!r} of app {app_label!r} does not exist. "
        "Create it (a package with an empty __init__.py) and run the command again."
    )
