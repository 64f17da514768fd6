"""Bulk writes to tables searched in place: their vector indexes built after the rows.

``bulk_create`` of many rows into a table whose vector column carries an HNSW or IVFFlat
index (``Meta.indexes``) would insert into the index row by row; when the rows are many
next to what the table holds, :func:`deferred_indexes` drops those indexes for the write and
builds them again afterwards in the same transaction (see
:mod:`vectra_django.postgres.builds`). Use it around a loop of your own bulk writes::

    with deferred_indexes(Document):
        for chunk in chunks:
            Document.objects.bulk_create(chunk)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connections, router, transaction
from django.db.models import Model
from psycopg import sql

from ..postgres import builds
from .fields import vector_fields


@contextlib.contextmanager
def deferred_indexes(
    model: type[Model], using: str | None = None, *, rows: int | None = None
) -> Iterator[bool]:
    """Within the block, ``model``'s in-place vector columns have no index; they are built
    again when it ends, in the same transaction (opened here if need be). Yields whether
    the indexes were deferred.

    With ``rows`` (how many the block writes), only when that is worth it: at least the
    alias's ``BUILD["MIN_ROWS"]`` and at least as many as the table holds. Searches and
    writes on the table wait for the block (it holds the table's lock).
    """
    using = using or router.db_for_write(model)
    fields = [vf for vf in vector_fields(model) if vf.is_inline(using)]
    settings = (
        builds.BuildSettings.from_setting((fields[0].provider_config() or {}).get("BUILD"))
        if fields
        else None
    )
    if settings is None or (rows is not None and not builds.worth_deferring(rows, 0, settings)):
        yield False
        return
    tables = list(dict.fromkeys(vf.model._meta.db_table for vf in fields))
    connection = connections[using]
    with transaction.atomic(using=using), contextlib.ExitStack() as stack:
        connection.ensure_connection()
        raw = connection.connection
        relations = [sql.Identifier(table) for table in tables]
        if rows is not None and any(
            not builds.worth_deferring(
                rows, builds.count_upto(raw, rel, rows * builds.STORED_PER_LOADED + 1), settings
            )
            for rel in relations
        ):
            yield False
            return
        dropped = sum(
            stack.enter_context(builds.deferred(raw, relation, settings)) for relation in relations
        )
        yield dropped > 0
