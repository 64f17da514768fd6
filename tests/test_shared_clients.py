"""``clients[alias]`` is one client per process, shared by every thread.

The memory store and Qdrant's ``:memory:`` exist once per client, and a Qdrant ``path=``
folder can be opened by one client only, so a client per thread would split (or refuse)
the store. These tests use threads the way a threaded server or a worker pool does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.fake_pinecone import FakePinecone
from vectra_django import clients
from vectra_django.client.client import Client
from vectra_django.errors import ConnectionError

T = TypeVar("T")

INDEX = "shared"
THREADS = 8
ROUNDS = 30


def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` run in another thread; its result, or its exception raised here."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result()


def alias_config(store: str, tmp_path: Path) -> dict[str, Any]:
    if store == "memory":
        return {"PROVIDER": "memory"}
    if store == "qdrant-memory":
        return {"PROVIDER": "qdrant", "MAX_RETRIES": 0, "OPTIONS": {"location": ":memory:"}}
    assert store == "qdrant-path"
    return {"PROVIDER": "qdrant", "MAX_RETRIES": 0, "OPTIONS": {"path": str(tmp_path / "q")}}


@pytest.fixture(params=["memory", "qdrant-memory", "qdrant-path"])
def alias(request: pytest.FixtureRequest, settings, tmp_path: Path) -> Iterator[str]:
    """An alias on each in-process store; its client is closed after the test."""
    settings.VECTRA = {**settings.VECTRA, "store": alias_config(request.param, tmp_path)}
    clients.reset()
    yield "store"
    clients.reset()


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    """No client built yet, and none left behind."""
    clients.reset()
    yield
    clients.reset()


@pytest.fixture
def qdrant_on_disk(settings, tmp_path: Path) -> Iterator[str]:
    settings.VECTRA = {**settings.VECTRA, "disk": alias_config("qdrant-path", tmp_path)}
    clients.reset()
    yield "disk"
    clients.reset()


# -- one client for every thread ---------------------------------------------------------


def test_every_thread_gets_the_same_client(alias: str) -> None:
    main = clients[alias]
    assert in_thread(clients.__getitem__, alias) is main
    assert in_thread(clients.all, True) == [main]


def test_a_client_built_in_a_worker_thread_is_the_main_threads(alias: str) -> None:
    built = in_thread(clients.__getitem__, alias)
    assert clients.all(initialized_only=True) == [built]
    assert clients[alias] is built


def test_an_upsert_in_a_worker_thread_is_fetched_in_the_main_thread(alias: str) -> None:
    def write() -> None:
        client = clients[alias]
        client.create_index(INDEX, dimension=3)
        client.upsert(INDEX, [{"id": "a", "values": [1, 2, 3], "metadata": {"k": "v"}}])

    in_thread(write)
    stored = clients[alias].fetch(INDEX, ["a"])["a"]
    assert stored.values == pytest.approx([1, 2, 3])
    assert stored.metadata == {"k": "v"}


def test_qdrant_on_disk_is_usable_from_two_threads(qdrant_on_disk: str) -> None:
    clients[qdrant_on_disk].create_index(INDEX, dimension=2)
    clients[qdrant_on_disk].upsert(INDEX, [{"id": "main", "values": [1, 0]}])

    def use_from_a_worker() -> list[str]:
        client = clients[qdrant_on_disk]
        client.upsert(INDEX, [{"id": "worker", "values": [0, 1]}])
        return [m.id for m in client.query(INDEX, [0, 1], top_k=2)]

    assert in_thread(use_from_a_worker) == ["worker", "main"]
    assert sorted(clients[qdrant_on_disk].fetch(INDEX, ["main", "worker"])) == ["main", "worker"]


def test_reset_closes_a_qdrant_folder_opened_by_another_live_thread(qdrant_on_disk: str) -> None:
    written, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def write_then_stay() -> None:
        try:
            clients[qdrant_on_disk].create_index(INDEX, dimension=2)
            clients[qdrant_on_disk].upsert(INDEX, [{"id": "a", "values": [1, 0]}])
        except BaseException as exc:
            failures.append(exc)
        finally:
            written.set()
        release.wait(30)  # a server's thread outlives the reset

    worker = threading.Thread(target=write_then_stay)
    worker.start()
    try:
        assert written.wait(30) and not failures, failures
        clients.reset()  # must release the folder, or reopening it here fails
        assert list(clients[qdrant_on_disk].fetch(INDEX, ["a"])) == ["a"]
    finally:
        release.set()
        worker.join()


@pytest.mark.usefixtures("fresh_clients")
def test_threads_racing_on_first_use_build_one_client(monkeypatch) -> None:
    built: list[str | None] = []
    from_settings = Client.from_settings.__func__  # type: ignore[attr-defined]

    def slow_from_settings(cls: type[Client], config: Any, alias: str | None = None) -> Client:
        built.append(alias)
        time.sleep(0.05)  # every other thread reaches clients[...] meanwhile
        return from_settings(cls, config, alias=alias)

    monkeypatch.setattr(Client, "from_settings", classmethod(slow_from_settings))
    barrier = threading.Barrier(THREADS)

    def first_use(_: int) -> Client:
        barrier.wait()
        return clients["memory"]

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        got = list(pool.map(first_use, range(THREADS)))
    assert built == ["memory"]
    assert all(c is got[0] for c in got)
    assert clients["memory"] is got[0]


# -- concurrent use ------------------------------------------------------------------------


def test_threads_hammering_one_store_leave_exactly_what_they_wrote(alias: str) -> None:
    """Each thread writes its own ids, deletes the odd ones and tags some even ones, while
    querying: the store must end with every even id and its last metadata, nothing else."""
    clients[alias].create_index(INDEX, dimension=3, metric="euclidean")
    barrier = threading.Barrier(THREADS)

    def work(t: int) -> None:
        client = clients[alias]
        barrier.wait()
        for i in range(ROUNDS):
            vid = f"t{t}-{i:02d}"
            client.upsert(INDEX, [{"id": vid, "values": [t, i, 1], "metadata": {"t": t}}])
            if i % 2:
                assert client.delete(INDEX, [vid]) is not None
            elif i % 3 == 0:
                client.update(INDEX, vid, metadata={"tagged": True})
            if i % 5 == 0:
                matches = client.query(INDEX, [t, i, 1], top_k=3, filter={"t": t})
                assert matches and all(m.metadata["t"] == t for m in matches)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for future in [pool.submit(work, t) for t in range(THREADS)]:
            future.result()

    expected = {
        f"t{t}-{i:02d}": {"t": t, **({"tagged": True} if i % 3 == 0 else {})}
        for t in range(THREADS)
        for i in range(0, ROUNDS, 2)
    }
    client = clients[alias]
    every_id = [f"t{t}-{i:02d}" for t in range(THREADS) for i in range(ROUNDS)]
    stored = client.fetch(INDEX, every_id)
    assert {vid: v.metadata for vid, v in stored.items()} == expected
    assert all(v.values[2] == 1 for v in stored.values())
    assert sorted(client.list_ids(INDEX)) == sorted(expected)
    assert client.stats(INDEX)["vector_count"] == len(expected)


def test_pinecone_reopens_a_client_another_thread_closed(orm_pinecone: FakePinecone) -> None:
    """A lost connection in one thread closes the shared data-plane clients; a thread that
    had just picked one up sends its request on a fresh one instead of failing."""
    orm_pinecone.reset()
    client = Client(
        provider="pinecone",
        api_key=orm_pinecone.api_key,
        host=orm_pinecone.url,
        max_retries=0,
        poll_interval=0.01,
        ready_timeout=5,
    )
    provider: Any = client.provider
    try:
        client.create_index("docs", dimension=2)
        client.upsert("docs", [{"id": "a", "values": [1, 0]}])
        index = provider._index
        closed = threading.Event()

        def index_closed_by_another_thread(name: str) -> Any:
            picked = index(name)
            if not closed.is_set():
                closed.set()
                in_thread(provider.on_retry, ConnectionError("connection lost"))
            return picked

        provider._index = index_closed_by_another_thread
        assert list(client.fetch("docs", ["a"])) == ["a"]
        assert closed.is_set()
    finally:
        client.close()
