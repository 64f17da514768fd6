"""An instrumentation handler: log every vector operation (search, sync) in one line."""

import logging

import vectra_django
from vectra_django.instrumentation import remove_handler

logger = logging.getLogger("example_project.vectra")


def log_operation(event) -> None:
    """Called by vectra_django after each operation when ``VECTRA_INSTRUMENTATION`` is on."""
    if event.success:
        logger.debug(
            "%s on %s/%s took %.1f ms %s",
            event.operation,
            event.provider,
            event.index,
            event.duration,
            event.metadata,
        )
    else:
        logger.warning(
            "%s on %s/%s failed after %.1f ms: %r",
            event.operation,
            event.provider,
            event.index,
            event.duration,
            event.error,
        )


def connect() -> None:
    remove_handler(log_operation)  # ready() may run more than once in tests
    vectra_django.on_operation(log_operation)
