"""Datadog: DogStatsD metrics per operation, and a ddtrace span when ddtrace is installed.

Needs the ``datadog`` extra. Metrics, each tagged ``provider:``, ``operation:``,
``index:`` (when the operation has one), ``status:success|error`` and the ``tags`` given to
:func:`setup`:

- ``vectra.operation.duration``: timing, milliseconds
- ``vectra.operation.count``: counter, one per operation
- ``vectra.operation.error``: counter, one per failed operation, tagged ``error_type:<class>``
- ``vectra.operation.vectors``: histogram of ``vector_count`` (upserts)
- ``vectra.operation.results``: histogram of ``result_count`` (queries, fetches, listings)

Namespaces are not tagged: they are often one per tenant, which would explode cardinality.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from . import Event, Integration

logger = logging.getLogger("vectra_django.instrumentation.datadog")

_integration = Integration()

_SPAN_KEYS = ("top_k", "vector_count", "result_count", "id_count", "batch_count")


def setup(
    host: str = "localhost",
    port: int = 8125,
    tags: Iterable[str] | None = None,
    statsd: Any = None,
    *,
    trace: bool = True,
    service: str | None = None,
) -> bool:
    """Send every operation to DogStatsD; returns whether the integration is active.

    ``statsd`` is an existing ``datadog.DogStatsd`` client to use instead of building one for
    ``host``/``port``. With ``trace`` (the default) and ddtrace installed, each operation
    also runs inside a ``vectra.<operation>`` span of ddtrace's global tracer, with
    ``service`` when given. Calling ``setup`` again replaces the earlier registration.
    """
    if statsd is None:
        try:
            from datadog.dogstatsd import DogStatsd
        except ImportError:
            logger.warning(
                "Datadog instrumentation is off: the datadog package is not installed "
                "(pip install datadog ddtrace, the datadog extra)."
            )
            return False
        statsd = DogStatsd(host=host, port=port)
    extra_tags = list(tags or ())

    def record(event: Event) -> None:
        base = [*event_tags(event), *extra_tags]
        statsd.timing("vectra.operation.duration", event.duration, tags=base)
        statsd.increment("vectra.operation.count", tags=base)
        if event.error is not None:
            error_tags = [*base, f"error_type:{type(event.error).__name__}"]
            statsd.increment("vectra.operation.error", tags=error_tags)
        vectors = _number(event.metadata.get("vector_count"))
        if vectors is not None:
            statsd.histogram("vectra.operation.vectors", vectors, tags=base)
        results = _number(event.metadata.get("result_count"))
        if results is not None:
            statsd.histogram("vectra.operation.results", results, tags=base)

    tracer = _span_factory(service) if trace else None

    _integration.install(record, tracer)
    logger.info("Datadog instrumentation enabled (spans: %s).", "on" if tracer else "off")
    return True


def teardown() -> None:
    """Undo :func:`setup`."""
    _integration.uninstall()


def event_tags(event: Event) -> list[str]:
    tags = [f"provider:{event.provider}", f"operation:{event.operation}"]
    if event.index is not None:
        tags.append(f"index:{event.index}")
    tags.append("status:success" if event.success else "status:error")
    return tags


def _span_factory(service: str | None) -> Any:
    try:
        from ddtrace.trace import tracer as dd_tracer
    except ImportError:
        try:
            from ddtrace import tracer as dd_tracer  # ddtrace < 3
        except ImportError:
            logger.info("ddtrace is not installed; Datadog spans are off, metrics stay on.")
            return None

    @contextmanager
    def span(
        *,
        operation: str,
        provider: str,
        index: str | None,
        namespace: str | None,
        metadata: dict[str, Any],
    ) -> Iterator[None]:
        resource = f"{operation} {index}" if index else operation
        with dd_tracer.trace(
            f"vectra.{operation}", service=service, resource=resource, span_type="db"
        ) as current:
            current.set_tag("component", "vectra_django")
            current.set_tag("db.system", provider)
            current.set_tag("vectra.provider", provider)
            current.set_tag("vectra.operation", operation)
            if index is not None:
                current.set_tag("vectra.index", index)
            if namespace is not None:
                current.set_tag("vectra.namespace", namespace)
            try:
                yield
            finally:
                for key in _SPAN_KEYS:
                    value = _number(metadata.get(key))
                    if value is not None:
                        current.set_metric(f"vectra.{key}", value)

    return span


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


__all__ = ["event_tags", "setup", "teardown"]
