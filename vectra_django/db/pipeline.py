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

    A write may name a follow-up (``after=``) that must run once it succeeded, on *this*
    thread and its database connection: :meth:`run_done` runs those whose writes are done,
    and :meth:`close` the rest.
    """

    def __init__(self, workers: int) -> None:
        self._slots = threading.Semaphore(workers)
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Callable[[], Any]] = queue.SimpleQueue()
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

    def submit(
        self,
        fn: Callable[..., None],
        *args: Any,
        after: Callable[[], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        task = functools.partial(fn, *args, **kwargs)
        if after is not None:
            task = functools.partial(_then, task, after, self._done)
        if not self._threads:
            task()
            self.run_done()
            return
        self._raise_failure()
        self._slots.acquire()
        self._raise_failure()
        self._queue.put(task)

    def run_done(self) -> None:
        """Run the follow-ups of the writes done so far."""
        while True:
            try:
                follow_up = self._done.get_nowait()
            except queue.Empty:
                return
            follow_up()

    def close(self) -> None:
        """Wait for the queued writes and stop the threads; raise the first failure, else
        run the remaining follow-ups."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._raise_failure()
        self.run_done()


def _then(task: Callable[[], Any], after: Callable[[], Any], done: queue.SimpleQueue[Any]) -> None:
    task()
    done.put(after)
