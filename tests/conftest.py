from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests import remote_stores
from tests.fake_pinecone import FakePinecone
from vectra_django import Client, clients
from vectra_django.instrumentation import clear_handlers
from vectra_django.testing import embedded


def pytest_unconfigure(config: pytest.Config) -> None:
    embedded.stop()


@pytest.fixture(autouse=True)
def _no_leftover_handlers():
    yield
    clear_handlers()


@pytest.fixture(scope="session")
def orm_pinecone() -> Iterator[FakePinecone]:
    """The fake Pinecone the ORM tests sync to; emptied before each test that uses it."""
    with FakePinecone(api_key=remote_stores.PINECONE_API_KEY) as server:
        yield server


@pytest.fixture(params=remote_stores.STORES)
def remote_store(request: pytest.FixtureRequest, settings) -> Iterator[str]:
    """Runs the test once per store behind the synced test models' alias (``"memory"``)."""
    store = request.param
    server = request.getfixturevalue("orm_pinecone") if store == "pinecone" else None
    if server is not None:
        server.reset()
    settings.VECTRA = {
        **settings.VECTRA,
        remote_stores.ALIAS: remote_stores.alias_config(store, server),
    }
    clients.reset()
    assert clients[remote_stores.ALIAS].provider_name == store
    yield store
    clients.reset()


@pytest.fixture
def iterative_session(db):
    """The test's transaction runs with pgvector's iterative scan on, as a database
    configured with ``hnsw.iterative_scan = relaxed_order`` does: searches within the
    defaults then need no settings of their own."""
    from django.db import connection

    from vectra_django.postgres import forget_session_settings

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
    forget_session_settings()
    yield
    forget_session_settings()  # the SET LOCAL ends with the test's transaction


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    """Clients built anew for the test and closed after it (``usefixtures`` it)."""
    clients.reset()
    yield
    clients.reset()


@pytest.fixture
def url_client(request: pytest.FixtureRequest) -> Iterator[Callable[..., Client]]:
    """Builds pgvector clients with their own pool (``URL``) on the test database, so each
    write commits as a user's would; the indexes they create are dropped afterwards."""
    from tests.contract.pgvector_providers import url_for_test_database

    url = url_for_test_database(request)
    made: list[Client] = []
    existing: set[str] = set()

    def make(**options: Any) -> Client:
        client = Client(provider="pgvector", url=url, **{"max_retries": 0, **options})
        if not made:
            existing.update(client.list_indexes())
        made.append(client)
        return client

    yield make
    for client in made:
        for name in set(client.list_indexes()) - existing:
            client.delete_index(name)
        client.close()
