"""Overlapping a bulk copy's reads and writes: batches written on threads while the next
batch is read, with Python's cycle collector paused for the duration."""

from __future__ import annotations

import contextlib
import functools
import gc
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connections


@contextlib.contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Pause Python's cycle collector for a bulk copy.

    The copy allocates rows, dicts and bytes that reference counting frees batch by batch,
    but their number sets off full collections that walk the whole process heap, which in a
    large process costs more than the batch itself. The collector's state is restored after.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def in_transaction() -> bool:
    """Whether this thread is inside ``atomic()`` on any database it has used."""
    return any(c.in_atomic_block for c in connections.all(initialized_only=True))


class Writer:
    """Runs each batch's writes on ``workers`` threads while this thread reads on.

    At most ``workers`` batches are in flight: a submit past that waits for a free thread.
    The first failed write is raised at the next submit or at ``close``, and the batches
    queued after it are skipped. With no workers (inside a transaction, whose rows other
    connections could not see and whose store writes must join it) each write runs at
    once, on this thread.
    """

    def __init__(self, workers: int) -> None:
        self._slots = threading.Semaphore(workers)
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._work, name=f"vectra-reindex-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        try:
            while (task := self._queue.get()) is not None:
                try:
                    if self._error is None:
                        task()
                except BaseException as exc:
                    with self._lock:
                        if self._error is None:
                            self._error = exc
                finally:
                    self._slots.release()
        finally:
            connections.close_all()  # the connections this thread opened

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        if not self._threads:
            fn(*args, **kwargs)
            return
        self._raise_failure()
        self._slots.acquire()
        self._raise_failure()
        self._queue.put(functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Wait for the queued writes and stop the threads; raise the first failure."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._raise_failure()
