"""The contract suite runs once per provider; each entry of PROVIDERS builds a Client.

A factory receives pytest's ``request`` and returns a ``Client``; indexes it creates are
dropped after each test by the ``client`` fixture.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from vectra_django import Client

Factory = Callable[[pytest.FixtureRequest], Client]


def memory_client(request: pytest.FixtureRequest) -> Client:
    return Client(provider="memory", max_retries=0)


PROVIDERS: dict[str, Factory] = {"memory": memory_client}

# Providers register further factories in sibling modules, each exporting EXTRA_PROVIDERS.
for _module in ("pgvector_providers", "remote_providers"):
    try:
        PROVIDERS.update(
            __import__(f"{__package__}.{_module}", fromlist=["EXTRA_PROVIDERS"]).EXTRA_PROVIDERS
        )
    except ModuleNotFoundError as exc:  # pragma: no cover - until the module exists
        if exc.name != f"{__package__}.{_module}":
            raise


@pytest.fixture(params=sorted(PROVIDERS))
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    c = PROVIDERS[request.param](request)
    created: list[str] = []
    original = c.create_index

    def tracking_create_index(name: str, *args, **kwargs):
        created.append(name)
        return original(name, *args, **kwargs)

    c.create_index = tracking_create_index  # type: ignore[method-assign]
    yield c
    for name in created:
        if name in c.list_indexes():
            c.delete_index(name)
    c.close()


@pytest.fixture
def index_name() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"
