from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import remote_stores
from tests.fake_pinecone import FakePinecone
from vectra_django import clients
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
