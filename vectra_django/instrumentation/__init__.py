"""Operation events: every client operation and ORM sync/search reports what it did.

Enable with ``VECTRA_INSTRUMENTATION = True`` (read at call time). Handlers registered with
:func:`on_operation` receive an :class:`Event` once the operation has finished; the
``operation_completed`` signal carries the same event for code that prefers Django signals.
Tracers registered with :func:`add_tracer` are context managers entered *around* each
operation, which is what span-based backends (New Relic traces, ddtrace, OpenTelemetry) need.
A handler or tracer that raises is logged and never breaks the operation it observes.

The backends live in sibling modules (``newrelic``, ``datadog``, ``otel``) and import their
third-party packages only inside ``setup()``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.dispatch import Signal

logger = logging.getLogger("vectra_django.instrumentation")

Handler = Callable[["Event"], Any]

operation_completed = Signal()
"""Sent with ``event=`` after every instrumented operation (``sender`` is the provider name)."""


class Tracer(Protocol):
    """Builds the context manager entered around one operation.

    Called with keyword arguments only. ``metadata`` is the live dict of the operation: keys
    the operation adds while it runs (``result_count``...) are there when the context manager
    exits. An exception raised by the operation is passed to ``__exit__`` as usual; whatever
    ``__exit__`` returns, the exception is re-raised.
    """

    def __call__(
        self,
        *,
        operation: str,
        provider: str,
        index: str | None,
        namespace: str | None,
        metadata: dict[str, Any],
    ) -> AbstractContextManager[Any]: ...


_handlers: list[Handler] = []
_tracers: list[Tracer] = []
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Event:
    """One finished operation. ``duration`` is in milliseconds."""

    operation: str
    provider: str
    index: str | None
    duration: float
    namespace: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None

    @property
    def success(self) -> bool:
        """Whether the operation finished without an error."""
        return self.error is None

    @property
    def failure(self) -> bool:
        """Whether the operation raised (the error is in ``error``)."""
        return self.error is not None


def enabled() -> bool:
    """Whether events are on; reads ``VECTRA_INSTRUMENTATION`` each call."""
    from django.conf import settings

    return settings.configured and getattr(settings, "VECTRA_INSTRUMENTATION", False) is True


def on_operation(handler: Handler) -> Handler:
    """Register ``handler`` for every event; usable as a decorator."""
    with _lock:
        if handler not in _handlers:
            _handlers.append(handler)
    return handler


def remove_handler(handler: Handler) -> None:
    """Unregister ``handler``; one that is not registered is ignored."""
    with _lock:
        if handler in _handlers:
            _handlers.remove(handler)


def add_tracer(tracer: Tracer) -> Tracer:
    """Register ``tracer`` to be entered around every operation; usable as a decorator."""
    with _lock:
        if tracer not in _tracers:
            _tracers.append(tracer)
    return tracer


def remove_tracer(tracer: Tracer) -> None:
    """Unregister ``tracer``; one that is not registered is ignored."""
    with _lock:
        if tracer in _tracers:
            _tracers.remove(tracer)


def clear_handlers() -> None:
    """Forget every registered handler and tracer (for tests)."""
    with _lock:
        _handlers.clear()
        _tracers.clear()


def emit(event: Event) -> None:
    """Deliver ``event`` to every handler and the signal, isolating handler failures."""
    with _lock:
        handlers = list(_handlers)
    for handler in handlers:
        try:
            handler(event)
        except Exception:
            logger.exception("Instrumentation handler %r failed", handler)
    for receiver, response in operation_completed.send_robust(sender=event.provider, event=event):
        if isinstance(response, Exception):
            logger.error("Instrumentation receiver %r failed", receiver, exc_info=response)


def _enter_tracers(
    operation: str, provider: str, index: str | None, namespace: str | None, details: dict
) -> list[AbstractContextManager[Any]]:
    with _lock:
        tracers = list(_tracers)
    entered = []
    for tracer in tracers:
        try:
            manager = tracer(
                operation=operation,
                provider=provider,
                index=index,
                namespace=namespace,
                metadata=details,
            )
            manager.__enter__()
        except Exception:
            logger.exception("Instrumentation tracer %r failed to start", tracer)
        else:
            entered.append(manager)
    return entered


def _exit_tracers(entered: list[AbstractContextManager[Any]], error: BaseException | None) -> None:
    exc_info = (None, None, None) if error is None else (type(error), error, error.__traceback__)
    for manager in reversed(entered):
        try:
            manager.__exit__(*exc_info)
        except Exception as exc:
            if exc is not error:
                logger.exception("Instrumentation tracer %r failed to finish", manager)


@contextmanager
def instrument(
    operation: str,
    provider: str,
    index: str | None = None,
    namespace: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Time the block and emit an event; yields the metadata dict so the block can add to it.

    Errors are recorded on the event and re-raised unchanged. With instrumentation off this
    costs one settings lookup and nothing else.
    """
    details = dict(metadata or {})
    if not enabled():
        yield details
        return
    entered = _enter_tracers(operation, provider, index, namespace, details) if _tracers else []
    start = time.perf_counter()
    error: BaseException | None = None
    try:
        yield details
    except BaseException as exc:
        error = exc
        raise
    finally:
        duration = (time.perf_counter() - start) * 1000.0
        if entered:
            _exit_tracers(entered, error)
        emit(
            Event(
                operation=operation,
                provider=provider,
                index=index,
                namespace=namespace,
                duration=duration,
                metadata=details,
                error=error,
            )
        )


class Integration:
    """One backend's registered handler and tracer, replaced as a pair by ``install``."""

    def __init__(self) -> None:
        self._handler: Handler | None = None
        self._tracer: Tracer | None = None

    def install(self, handler: Handler, tracer: Tracer | None = None) -> None:
        self.uninstall()
        self._handler = on_operation(handler)
        self._tracer = None if tracer is None else add_tracer(tracer)

    def uninstall(self) -> None:
        if self._handler is not None:
            remove_handler(self._handler)
        if self._tracer is not None:
            remove_tracer(self._tracer)
        self._handler = self._tracer = None


__all__ = [
    "Event",
    "Integration",
    "Tracer",
    "add_tracer",
    "clear_handlers",
    "emit",
    "enabled",
    "instrument",
    "on_operation",
    "operation_completed",
    "remove_handler",
    "remove_tracer",
]
