"""Operation events: every client operation and ORM sync/search reports what it did.

Enable with ``VECTRA_INSTRUMENTATION = True`` (read at call time). Handlers registered with
:func:`on_operation` receive an :class:`Event`; the ``operation_completed`` signal carries
the same event for code that prefers Django signals. A handler that raises is logged and
never breaks the operation it observes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger("vectra_django.instrumentation")

Handler = Callable[["Event"], Any]

operation_completed = Signal()
"""Sent with ``event=`` after every instrumented operation (``sender`` is the provider name)."""

_handlers: list[Handler] = []
_handlers_lock = threading.Lock()


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
        return self.error is None

    @property
    def failure(self) -> bool:
        return self.error is not None


def enabled() -> bool:
    """Whether events are on; reads ``VECTRA_INSTRUMENTATION`` each call."""
    from django.conf import settings

    return settings.configured and getattr(settings, "VECTRA_INSTRUMENTATION", False) is True


def on_operation(handler: Handler) -> Handler:
    """Register ``handler`` for every event; usable as a decorator."""
    with _handlers_lock:
        if handler not in _handlers:
            _handlers.append(handler)
    return handler


def remove_handler(handler: Handler) -> None:
    with _handlers_lock:
        if handler in _handlers:
            _handlers.remove(handler)


def clear_handlers() -> None:
    """Forget every registered handler (for tests)."""
    with _handlers_lock:
        _handlers.clear()


def emit(event: Event) -> None:
    """Deliver ``event`` to every handler and the signal, isolating handler failures."""
    with _handlers_lock:
        handlers = list(_handlers)
    for handler in handlers:
        try:
            handler(event)
        except Exception:
            logger.exception("Instrumentation handler %r failed", handler)
    for receiver, response in operation_completed.send_robust(sender=event.provider, event=event):
        if isinstance(response, Exception):
            logger.error(
                "Instrumentation receiver %r failed", receiver, exc_info=response
            )


@contextmanager
def instrument(
    operation: str,
    provider: str,
    index: str | None = None,
    namespace: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Time the block and emit an event; yields the metadata dict so the block can add to it.

    Errors are recorded on the event and re-raised unchanged.
    """
    details = dict(metadata or {})
    if not enabled():
        yield details
        return
    start = time.perf_counter()
    error: BaseException | None = None
    try:
        yield details
    except BaseException as exc:
        error = exc
        raise
    finally:
        emit(
            Event(
                operation=operation,
                provider=provider,
                index=index,
                namespace=namespace,
                duration=(time.perf_counter() - start) * 1000.0,
                metadata=details,
                error=error,
            )
        )


__all__ = [
    "Event",
    "clear_handlers",
    "emit",
    "enabled",
    "instrument",
    "on_operation",
    "operation_completed",
    "remove_handler",
]
