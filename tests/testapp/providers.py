"""A memory provider that counts the writes it receives, to test batching."""

from __future__ import annotations

from typing import Any

from vectra_django.providers.memory import MemoryProvider


class CountingMemoryProvider(MemoryProvider):
    name = "memory"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.calls: list[tuple[str, int]] = []

    def upsert(self, index: str, batch: Any, namespace: str) -> int:
        self.calls.append(("upsert", len(batch)))
        return super().upsert(index, batch, namespace)

    def delete(self, index: str, namespace: str, ids: Any = None, **kwargs: Any) -> int:
        self.calls.append(("delete", len(ids) if ids is not None else -1))
        return super().delete(index, namespace, ids=ids, **kwargs)


class UnlistableMemoryProvider(MemoryProvider):
    """Like a store with no way to list ids (most SaaS stores)."""

    def list_ids(self, *args: Any, **kwargs: Any) -> list[str]:
        raise self.unsupported("listing ids")
