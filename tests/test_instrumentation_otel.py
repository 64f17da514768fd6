"""OpenTelemetry: spans in the SDK's in-memory exporter, the histogram in its metric reader."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vectra_django import Client
from vectra_django.errors import NotFoundError
from vectra_django.instrumentation import instrument, otel

from .instrumentation_helpers import PROVIDER_PARAMS, build_client, unique_index

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402


class Telemetry:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = sdk_trace.TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, name: str) -> list:
        return [s for s in self.exporter.get_finished_spans() if s.name == name]

    def duration_points(self) -> list:
        data = self.reader.get_metrics_data()
        points = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == "vectra.operation.duration":
                        assert metric.unit == "ms"
                        points.extend(metric.data.data_points)
        return points


@pytest.fixture(autouse=True)
def _instrumentation_on(settings) -> None:
    settings.VECTRA_INSTRUMENTATION = True


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    assert otel.setup(tracer_provider=t.tracer_provider, meter_provider=t.meter_provider)
    yield t
    otel.teardown()
    t.tracer_provider.shutdown()
    t.meter_provider.shutdown()


@pytest.fixture(params=PROVIDER_PARAMS)
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    yield from build_client(request, request.param)


@pytest.fixture
def index(client: Client) -> str:
    name = unique_index()
    client.create_index(name, dimension=2)
    client.upsert(
        name,
        ids=["a", "b", "c"],
        values=[[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]],
        namespace="tenant-1",
    )
    return name


def test_a_real_query_produces_a_client_span_with_semantic_attributes(
    client: Client, index: str, telemetry: Telemetry
) -> None:
    client.query(index, [1.0, 0.0], top_k=2, namespace="tenant-1")

    (span,) = telemetry.spans("vectra.query")
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert span.instrumentation_scope.name == "vectra_django"
    assert dict(span.attributes) == {
        "db.system": client.provider_name,
        "db.system.name": client.provider_name,
        "db.operation.name": "query",
        "db.collection.name": index,
        "vectra.index": index,
        "vectra.namespace": "tenant-1",
        "vectra.top_k": 2,
        "vectra.result_count": 2,
    }
    assert span.end_time > span.start_time


def test_an_upsert_span_has_the_vector_and_batch_counts(
    client: Client, index: str, telemetry: Telemetry
) -> None:
    client.upsert(index, ids=["d"], values=[[0.3, 0.4]])

    (span,) = telemetry.spans("vectra.upsert")
    assert span.attributes["vectra.vector_count"] == 1
    assert span.attributes["vectra.batch_count"] == 1
    assert span.attributes["vectra.namespace"] == ""


def test_a_failed_operation_sets_error_status_and_records_the_exception(
    client: Client, telemetry: Telemetry
) -> None:
    missing = unique_index()
    with pytest.raises(NotFoundError):
        client.describe_index(missing)

    (span,) = telemetry.spans("vectra.describe_index")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "NotFoundError"
    (event,) = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"].endswith("NotFoundError")
    assert missing in event.attributes["exception.message"]


def test_spans_nest_under_the_current_span(telemetry: Telemetry) -> None:
    outer_tracer = telemetry.tracer_provider.get_tracer("caller")
    with (
        outer_tracer.start_as_current_span("request") as parent,
        instrument("query", "memory", "docs"),
    ):
        pass

    (span,) = telemetry.spans("vectra.query")
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.context.trace_id == parent.get_span_context().trace_id


def test_operations_record_the_duration_histogram(
    client: Client, index: str, telemetry: Telemetry
) -> None:
    client.query(index, [1.0, 0.0], top_k=1)
    client.query(index, [0.0, 1.0], top_k=1)

    points = [
        p for p in telemetry.duration_points() if p.attributes["db.operation.name"] == "query"
    ]
    (point,) = points
    assert point.count == 2
    assert point.sum > 0
    assert dict(point.attributes) == {
        "db.system": client.provider_name,
        "db.operation.name": "query",
        "vectra.index": index,
        "vectra.status": "success",
    }


def test_the_histogram_is_in_milliseconds(telemetry: Telemetry) -> None:
    import time

    with instrument("slow", "memory"):
        time.sleep(0.1)

    (point,) = [
        p for p in telemetry.duration_points() if p.attributes["db.operation.name"] == "slow"
    ]
    assert 100 <= point.sum < 5000


def test_failures_are_a_separate_histogram_series(telemetry: Telemetry) -> None:
    with pytest.raises(KeyError), instrument("fetch", "memory", "docs"):
        raise KeyError("x")

    (point,) = telemetry.duration_points()
    assert point.attributes["vectra.status"] == "error"
    assert point.attributes["error.type"] == "KeyError"


def test_nothing_is_recorded_when_instrumentation_is_off(settings, telemetry: Telemetry) -> None:
    settings.VECTRA_INSTRUMENTATION = False
    with instrument("query", "memory", "docs"):
        pass

    assert telemetry.exporter.get_finished_spans() == ()
    assert telemetry.duration_points() == []


def test_setup_twice_records_once(telemetry: Telemetry) -> None:
    assert otel.setup(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    with instrument("query", "memory", "docs"):
        pass

    assert len(telemetry.spans("vectra.query")) == 1
    (point,) = telemetry.duration_points()
    assert point.count == 1
