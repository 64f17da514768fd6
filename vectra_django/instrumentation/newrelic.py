"""New Relic: custom metrics per operation, errors noticed, a datastore trace per operation.

Call :func:`setup` once, after the agent is initialised (``newrelic-admin run-program`` or
``newrelic.agent.initialize()``), for example in ``AppConfig.ready()``. Needs the
``newrelic`` extra; without the package it logs one line and does nothing.

Metrics, all under ``Custom/Vectra/<provider>/<operation>/``: ``duration`` (milliseconds),
``calls``, ``success``, ``error`` and, when the operation reports one, ``results``
(``result_count``). Inside a transaction they are recorded on the transaction; outside one,
on the application.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from . import Event, Integration

logger = logging.getLogger("vectra_django.instrumentation.newrelic")

_integration = Integration()


def metric_prefix(provider: str, operation: str) -> str:
    return f"Custom/Vectra/{provider}/{operation}"


def setup(application: Any = None) -> bool:
    """Report every operation to New Relic; returns whether the integration is active.

    ``application`` is the agent application that metrics outside a transaction are recorded
    against (default: ``newrelic.agent.application()``, looked up at each operation).
    Calling ``setup`` again replaces the earlier registration.
    """
    try:
        import newrelic.agent as agent
    except ImportError:
        logger.warning(
            "New Relic instrumentation is off: the newrelic package is not installed "
            "(pip install newrelic, the newrelic extra)."
        )
        return False

    def record(event: Event) -> None:
        transaction = agent.current_transaction()
        target = None
        if transaction is None:
            if application is None and not agent.global_settings().enabled:
                return  # the agent was never initialised: nothing would be sent
            target = application if application is not None else agent.application()
        agent.record_custom_metrics(_metrics(event), application=target)
        if event.error is not None:
            error = event.error
            agent.notice_error(
                error=(type(error), error, error.__traceback__),
                attributes=_attributes(event),
                application=target,
            )

    def trace(
        *,
        operation: str,
        provider: str,
        index: str | None,
        namespace: str | None,
        metadata: dict[str, Any],
    ) -> AbstractContextManager[Any]:
        if agent.current_transaction() is None:
            return nullcontext()
        return agent.DatastoreTrace(product=provider, target=index, operation=operation)

    _integration.install(record, trace)
    logger.info("New Relic instrumentation enabled.")
    return True


def teardown() -> None:
    """Undo :func:`setup`."""
    _integration.uninstall()


def _metrics(event: Event) -> list[tuple[str, float]]:
    prefix = metric_prefix(event.provider, event.operation)
    metrics: list[tuple[str, float]] = [
        (f"{prefix}/duration", event.duration),
        (f"{prefix}/calls", 1),
        (f"{prefix}/success" if event.success else f"{prefix}/error", 1),
    ]
    results = event.metadata.get("result_count")
    if isinstance(results, int | float) and not isinstance(results, bool):
        metrics.append((f"{prefix}/results", results))
    return metrics


def _attributes(event: Event) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "vectra.provider": event.provider,
        "vectra.operation": event.operation,
    }
    if event.index is not None:
        attributes["vectra.index"] = event.index
    if event.namespace is not None:
        attributes["vectra.namespace"] = event.namespace
    return attributes


__all__ = ["metric_prefix", "setup", "teardown"]
