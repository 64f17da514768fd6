"""Shared pieces for the instrumentation tests: clients per provider and an event recorder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from vectra_django import Client, on_operation
from vectra_django.instrumentation import Event

try:
    import vectra_django.providers.pgvector  # noqa: F401
except ImportError as exc:  # pragma: no cover - until the provider lands
    PGVECTOR_MISSING: str | None = f"the pgvector provider cannot be imported yet ({exc})"
else:
    PGVECTOR_MISSING = None

PROVIDER_PARAMS = [
    pytest.param("memory"),
    pytest.param(
        "pgvector",
        marks=pytest.mark.skipif(PGVECTOR_MISSING is not None, reason=PGVECTOR_MISSING or ""),
    ),
]


def unique_index() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def build_client(request: pytest.FixtureRequest, provider: str, **kwargs) -> Iterator[Client]:
    """A client for ``provider``; indexes still there at the end are dropped."""
    if provider == "pgvector":
        request.getfixturevalue("db")
        client = Client(provider="pgvector", database="default", max_retries=0, **kwargs)
    else:
        client = Client(provider=provider, max_retries=0, **kwargs)
    known = set(client.list_indexes())
    yield client
    for name in set(client.list_indexes()) - known:
        client.delete_index(name)
    client.close()


class Recorder:
    """Collects every event while registered."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        on_operation(self)

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def only(self, operation: str) -> Event:
        matching = [e for e in self.events if e.operation == operation]
        assert len(matching) == 1, f"expected one {operation!r} event, got {self.events!r}"
        return matching[0]

    def clear(self) -> None:
        self.events.clear()
