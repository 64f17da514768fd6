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


class HookedMemoryProvider(MemoryProvider):
    """A memory store whose writes first call ``before_write(operation, ids)``: tests use it
    to fail a write (an exception) or to hold one while another transaction runs."""

    name = "memory"
    before_write: Any = None

    def _hook(self, operation: str, ids: list[str]) -> None:
        hook = type(self).before_write
        if hook is not None:
            hook(operation, ids)

    def upsert(self, index: str, batch: Any, namespace: str) -> int:
        self._hook("upsert", list(batch.ids))
        return super().upsert(index, batch, namespace)

    def delete(self, index: str, namespace: str, ids: Any = None, **kwargs: Any) -> int:
        self._hook("delete", list(ids or []))
        return super().delete(index, namespace, ids=ids, **kwargs)
