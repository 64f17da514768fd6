"""Contract-suite factories for the remote providers.

Pinecone runs the real SDK over HTTP against one :class:`~tests.fake_pinecone.FakePinecone`
started lazily for the session (fixtures cannot live here, so a module-level singleton is
stopped at exit). Qdrant runs on qdrant-client's in-process mode, fresh for every test.
"""

from __future__ import annotations

import atexit
import threading

import pytest

from tests.fake_pinecone import FakePinecone
from vectra_django import Client

PINECONE_API_KEY = "contract-suite-key"

_server: FakePinecone | None = None
_server_lock = threading.Lock()


def pinecone_server() -> FakePinecone:
    """The session's fake Pinecone, started on first use and stopped at interpreter exit."""
    global _server
    with _server_lock:
        if _server is None:
            _server = FakePinecone(api_key=PINECONE_API_KEY).start()
            atexit.register(_server.stop)
        return _server


def pinecone_client(request: pytest.FixtureRequest) -> Client:
    server = pinecone_server()
    return Client(
        provider="pinecone",
        api_key=PINECONE_API_KEY,
        host=server.url,
        max_retries=0,
        poll_interval=0.01,
        ready_timeout=5,
    )


def qdrant_client(request: pytest.FixtureRequest) -> Client:
    return Client(provider="qdrant", location=":memory:", max_retries=0)


EXTRA_PROVIDERS = {"pinecone": pinecone_client, "qdrant": qdrant_client}
