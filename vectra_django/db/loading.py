"""A reindex into an index that is new, empty or being replaced: one bulk load.

The rows are read in keyset batches as the load asks for them, so only one batch is held
in memory, and the whole load is one transaction on the store (see the client's
``bulk_load``): on pgvector the vector index is built once the rows are in, and a failure
leaves the index as it was.

Rows are read only after the load holds its table lock, which keeps every other writer
out until it commits; so a sync write that lands during the load waits and lands after
it, and nothing this load read can overwrite a newer vector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..client import Client
from ..client.validation import Batch
from .fields import VectorField, vector_id
from .reindex import stack_vectors, values_rows
from .text import carries_text, record_attnames, record_parts


def can_bulk_load(client: Client) -> bool:
    """Whether the store loads many batches as one transaction (pgvector)."""
    return hasattr(client.provider, "bulk_load")


def load_rows(
    vf: VectorField,
    client: Client,
    using: str,
    batch_size: int,
    replace: bool,
    progress: Callable[[int], None],
    on_build: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Upsert the vector of every row of ``vf``'s model that has one; returns how many.

    ``replace`` deletes the namespace's vectors first, in the same transaction.
    """
    index = vf.index_name
    rows = vf.model._base_manager.using(using).filter(**{f"{vf.attname}__isnull": False})
    result = client._bulk_load_checked(
        index,
        _batches(vf, client, rows, batch_size, progress),
        client._namespace(vf.namespace),
        rows.count(),
        replace,
        True,
        on_build,
    )
    return result["upserted_count"]


def _batches(
    vf: VectorField,
    client: Client,
    rows: Any,
    batch_size: int,
    progress: Callable[[int], None],
) -> Iterator[Batch]:
    columns = ["pk", vf.attname, *record_attnames(vf)]
    ordered = rows.order_by("pk")
    last = None
    while True:
        page = ordered if last is None else ordered.filter(pk__gt=last)
        found = values_rows(page[:batch_size], *columns, raw_vectors=True)
        if not found:
            return
        last = found[-1][0]
        yield checked_batch(client, vf, found)
        progress(len(found))


def checked_batch(client: Client, vf: VectorField, rows: list[tuple[Any, ...]]) -> Batch:
    """``(pk, vector, *record_attnames)`` rows as a batch checked for ``vf``'s index."""
    parts = [record_parts(vf, row[2:]) for row in rows]
    return client._checked_batch(
        vf.index_name,
        ids=[vector_id(vf.model, row[0]) for row in rows],
        values=stack_vectors([row[1] for row in rows]),
        metadata=[meta for meta, _ in parts],
        texts=[text for _, text in parts] if carries_text(vf, client) else None,
    )
