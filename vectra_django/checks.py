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
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core import checks
from django.db import connections

from .db.fields import VectorField, vector_fields
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
            home = vf.provider_config().get("DATABASE", "default")
            if home not in connections or not vf.is_inline(home):
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
