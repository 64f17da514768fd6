"""OpenTelemetry: a span per operation and a duration histogram, through the API only.

Needs the ``otel`` extra (``opentelemetry-api``); the application brings the SDK and the
exporters. Providers default to the global ones, so :func:`setup` may run before or after
the SDK is configured.

Span ``vectra.<operation>`` (kind ``CLIENT``) with attributes ``db.system`` and
``db.system.name`` (the provider), ``db.operation.name``, ``db.collection.name`` and
``vectra.index`` (the index), ``vectra.namespace``, ``vectra.top_k``,
``vectra.vector_count``, ``vectra.id_count``, ``vectra.batch_count``,
``vectra.result_count``; on failure the status is ERROR, the exception is recorded and
``error.type`` is set.

Histogram ``vectra.operation.duration`` (unit ``ms``) with ``db.system``,
``db.operation.name``, ``vectra.index`` (when set), ``vectra.status`` and, on failure,
``error.type``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import Event, Integration

logger = logging.getLogger("vectra_django.instrumentation.otel")

INSTRUMENTATION_NAME = "vectra_django"

_integration = Integration()

_COUNT_KEYS = ("top_k", "vector_count", "id_count", "batch_count", "result_count")


def setup(tracer_provider: Any = None, meter_provider: Any = None) -> bool:
    """Trace and measure every operation; returns whether the integration is active.

    Calling ``setup`` again replaces the earlier registration.
    """
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        logger.warning(
            "OpenTelemetry instrumentation is off: opentelemetry-api is not installed "
            "(pip install opentelemetry-api, the otel extra)."
        )
        return False
    __version__ = _package_version()

    tracer = trace.get_tracer(INSTRUMENTATION_NAME, __version__, tracer_provider=tracer_provider)
    meter = metrics.get_meter(INSTRUMENTATION_NAME, __version__, meter_provider=meter_provider)
    histogram = meter.create_histogram(
        "vectra.operation.duration",
        unit="ms",
        description="Duration of vectra_django operations.",
    )

    @contextmanager
    def span(
        *,
        operation: str,
        provider: str,
        index: str | None,
        namespace: str | None,
        metadata: dict[str, Any],
    ) -> Iterator[None]:
        attributes: dict[str, Any] = {
            "db.system": provider,
            "db.system.name": provider,
            "db.operation.name": operation,
        }
        if index is not None:
            attributes["db.collection.name"] = index
            attributes["vectra.index"] = index
        if namespace is not None:
            attributes["vectra.namespace"] = namespace
        with tracer.start_as_current_span(
            f"vectra.{operation}",
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
            record_exception=True,
            set_status_on_exception=True,
        ) as current:
            try:
                yield
            except BaseException as exc:
                current.set_attribute("error.type", type(exc).__qualname__)
                raise
            finally:
                for key in _COUNT_KEYS:
                    value = metadata.get(key)
                    if isinstance(value, int) and not isinstance(value, bool):
                        current.set_attribute(f"vectra.{key}", value)

    def measure(event: Event) -> None:
        attributes: dict[str, Any] = {
            "db.system": event.provider,
            "db.operation.name": event.operation,
            "vectra.status": "success" if event.success else "error",
        }
        if event.index is not None:
            attributes["vectra.index"] = event.index
        if event.error is not None:
            attributes["error.type"] = type(event.error).__qualname__
        histogram.record(event.duration, attributes=attributes)

    _integration.install(measure, span)
    logger.info("OpenTelemetry instrumentation enabled.")
    return True


def teardown() -> None:
    """Undo :func:`setup`."""
    _integration.uninstall()


def _package_version() -> str | None:
    """The installed distribution's version, for the tracer and meter scope."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vectra-django")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return None


__all__ = ["INSTRUMENTATION_NAME", "setup", "teardown"]
