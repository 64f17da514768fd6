"""Writing many vectors: ``upsert``'s chunked writes and ``bulk_load``'s streamed ones.

On pgvector a large write runs as one transaction that builds the vector index after the
rows are in, when the load is large next to what the index holds (see
:mod:`vectra_django.postgres.builds`); other stores take the chunks one by one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..instrumentation import instrument
from .validation import Batch

if TYPE_CHECKING:
    from .client import Client

# Below this many vectors an upsert is one plain provider call.
BULK_MIN_ROWS = 64


class BulkWrites:
    """The write half of :class:`~vectra_django.client.Client` for many vectors."""

    def bulk_load(
        self: Client,
        index: str | None = None,
        batches: Iterable[Any] = (),
        *,
        namespace: str | None = None,
        rows: int | None = None,
        replace: bool = False,
        exclusive: bool = False,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, int]:
        """Upsert a stream of batches, each what ``upsert`` takes as ``vectors`` or a mapping
        of its ``ids``/``values``/``metadata``, read one at a time (memory stays bounded).

        ``rows`` (the total, if known) lets pgvector defer the index build; ``replace``
        deletes the namespace's vectors first. On pgvector the whole load is one
        transaction: a bad batch or a failure leaves the index as it was; ``exclusive``
        keeps other writers waiting until it commits (searches go on), and ``on_progress``
        receives the index build's ``pg_stat_progress_create_index`` row now and then.
        Other stores write batch by batch (``replace`` clears first). A stream cannot be
        replayed, so a failed load is not retried: run it again.
        """
        index = self._index(index)
        ns = self._namespace(namespace)
        if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 0):
            raise ValidationError(f"rows must be a non-negative integer, got {rows!r}.")
        checked = (self._checked_batch(index, **_batch_arguments(b)) for b in batches)
        return self._bulk_load_checked(index, checked, ns, rows, replace, exclusive, on_progress)

    def _bulk_load_checked(
        self: Client,
        index: str,
        batches: Iterable[Batch],
        ns: str,
        rows: int | None,
        replace: bool,
        exclusive: bool,
        on_progress: Callable[[dict[str, Any]], None] | None,
    ) -> dict[str, int]:
        load = getattr(self.provider, "bulk_load", None)
        with instrument(
            "upsert", self.provider_name, index, ns, metadata={"bulk": True, "replace": replace}
        ) as details:
            if load is not None:
                written = load(
                    index,
                    batches,
                    ns,
                    rows=rows,
                    replace=replace,
                    exclusive=exclusive,
                    on_progress=on_progress,
                )
            else:
                if replace:
                    self._call(self.provider.delete, index, ns, delete_all=True)
                written = sum(
                    self._call(self.provider.upsert, index, chunk, ns)
                    for batch in batches
                    for chunk in batch.chunks(self.batch_size)
                )
            details["vector_count"] = written
        return {"upserted_count": written}

    def _upsert_checked(self: Client, index: str, batch: Batch, ns: str) -> dict[str, int]:
        """Write a batch from ``_checked_batch``: in chunks of ``batch_size``, and on a store
        with bulk loads as one of them (all chunks in one transaction, retried whole)."""
        load = getattr(self.provider, "bulk_load", None)
        written = 0
        with instrument(
            "upsert", self.provider_name, index, ns, metadata={"vector_count": len(batch)}
        ) as details:
            chunks = list(batch.chunks(self.batch_size))
            if load is not None and len(batch) >= BULK_MIN_ROWS:
                written = self._call(load, index, chunks, ns, rows=len(batch))
            else:
                for chunk in chunks:
                    written += self._call(self.provider.upsert, index, chunk, ns)
            details["batch_count"] = math.ceil(len(batch) / self.batch_size)
        return {"upserted_count": written}


def _batch_arguments(batch: Any) -> dict[str, Any]:
    """One ``bulk_load`` batch as ``_checked_batch``'s keyword arguments."""
    if isinstance(batch, Mapping):
        unknown = set(batch) - {"ids", "values", "metadata", "texts"}
        if unknown or "ids" not in batch:
            raise ValidationError(
                "A bulk_load batch is a list of vectors or a mapping with ids, values and "
                f"optionally metadata and texts; got keys {sorted(map(str, batch))}."
            )
        return {
            "ids": batch["ids"],
            "values": batch.get("values"),
            "metadata": batch.get("metadata"),
            "texts": batch.get("texts"),
        }
    return {"vectors": batch}
