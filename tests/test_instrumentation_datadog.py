"""Datadog: DogStatsD datagrams caught by a real UDP socket, and ddtrace spans kept in memory."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from vectra_django import Client
from vectra_django.errors import NotFoundError
from vectra_django.instrumentation import datadog, instrument

from .instrumentation_helpers import PROVIDER_PARAMS, build_client, unique_index


@dataclass(frozen=True)
class Datagram:
    name: str
    value: float
    kind: str
    tags: tuple[str, ...]

    def tag(self, key: str) -> str | None:
        values = [t.split(":", 1)[1] for t in self.tags if t.startswith(f"{key}:")]
        assert len(values) <= 1, self.tags
        return values[0] if values else None


def parse(line: str) -> Datagram:
    """``name:value|type[|@rate][|#tag,tag][|c:container]...`` (the DogStatsD wire format)."""
    head, *fields = line.split("|")
    name, value = head.rsplit(":", 1)
    tags: tuple[str, ...] = ()
    for extra in fields[1:]:
        if extra.startswith("#"):
            tags = tuple(extra[1:].split(","))
    return Datagram(name, float(value), fields[0], tags)


class StatsdListener:
    """A UDP server on 127.0.0.1 that keeps the metric lines starting with ``prefix``.

    Other lines (the client's own telemetry) are ignored.
    """

    def __init__(self, prefix: str = "vectra.") -> None:
        self.prefix = prefix
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.received: list[Datagram] = []

    def collect(self, expected: int, timeout: float = 3.0) -> list[Datagram]:
        """Wait until ``expected`` vectra metrics have arrived, or ``timeout`` has passed."""
        deadline = time.monotonic() + timeout
        while len(self.received) < expected and time.monotonic() < deadline:
            try:
                payload = self.sock.recv(65535)
            except TimeoutError:
                continue
            for line in payload.decode().splitlines():
                if line.startswith(self.prefix):
                    self.received.append(parse(line))
        return self.received

    def named(self, name: str) -> list[Datagram]:
        return [d for d in self.received if d.name == name]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(autouse=True)
def _instrumentation_on(settings) -> None:
    settings.VECTRA_INSTRUMENTATION = True


@pytest.fixture
def listener() -> Iterator[StatsdListener]:
    server = StatsdListener()
    yield server
    server.close()


@pytest.fixture
def statsd(listener: StatsdListener) -> Iterator[StatsdListener]:
    """The integration installed against the listener, without ddtrace spans."""
    assert datadog.setup(host="127.0.0.1", port=listener.port, tags=["env:test"], trace=False)
    yield listener
    datadog.teardown()


@pytest.fixture(params=PROVIDER_PARAMS)
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    yield from build_client(request, request.param)


@pytest.fixture
def index(client: Client) -> str:
    name = unique_index()
    client.create_index(name, dimension=2)
    client.upsert(
        name,
        [
            {"id": "a", "values": [1.0, 0.0]},
            {"id": "b", "values": [0.0, 1.0]},
            {"id": "c", "values": [0.7, 0.7]},
        ],
    )
    return name


def test_a_real_query_sends_duration_count_and_results(
    client: Client, index: str, statsd: StatsdListener
) -> None:
    client.query(index, [1.0, 0.0], top_k=2)

    statsd.collect(expected=3)
    (duration,) = statsd.named("vectra.operation.duration")
    (count,) = statsd.named("vectra.operation.count")
    (results,) = statsd.named("vectra.operation.results")
    assert duration.kind == "ms"
    assert duration.value > 0
    assert (count.kind, count.value) == ("c", 1)
    assert (results.kind, results.value) == ("h", 2)
    for datagram in (duration, count, results):
        assert datagram.tag("provider") == client.provider_name
        assert datagram.tag("operation") == "query"
        assert datagram.tag("index") == index
        assert datagram.tag("status") == "success"
        assert datagram.tag("env") == "test"
    assert statsd.named("vectra.operation.error") == []


def test_an_upsert_sends_the_vector_count(
    client: Client, index: str, statsd: StatsdListener
) -> None:
    client.upsert(index, ids=["d", "e"], values=[[0.5, 0.5], [0.1, 0.9]])

    statsd.collect(expected=3)
    (vectors,) = statsd.named("vectra.operation.vectors")
    assert (vectors.kind, vectors.value) == ("h", 2)
    assert vectors.tag("operation") == "upsert"
    assert statsd.named("vectra.operation.results") == []


def test_a_failed_operation_sends_an_error_with_its_type(
    client: Client, statsd: StatsdListener
) -> None:
    with pytest.raises(NotFoundError):
        client.describe_index(unique_index())

    statsd.collect(expected=3)
    (error,) = statsd.named("vectra.operation.error")
    (count,) = statsd.named("vectra.operation.count")
    assert error.tag("error_type") == "NotFoundError"
    assert error.tag("status") == "error"
    assert error.tag("operation") == "describe_index"
    assert count.tag("status") == "error"
    assert count.tag("error_type") is None


def test_operations_without_an_index_have_no_index_tag(statsd: StatsdListener) -> None:
    Client(provider="memory").list_indexes()

    statsd.collect(expected=3)
    (count,) = statsd.named("vectra.operation.count")
    assert count.tag("operation") == "list_indexes"
    assert count.tag("index") is None


def test_an_existing_statsd_client_can_be_passed() -> None:
    from datadog.dogstatsd import DogStatsd

    listener = StatsdListener(prefix="app.vectra.")
    client = DogStatsd(host="127.0.0.1", port=listener.port, namespace="app")
    try:
        assert datadog.setup(statsd=client, tags=["team:search"], trace=False)
        with instrument("query", "memory", "docs"):
            pass
        listener.collect(expected=2)
    finally:
        datadog.teardown()
        client.close_socket()
        listener.close()

    (count,) = listener.named("app.vectra.operation.count")
    assert count.tag("team") == "search"
    assert {d.name for d in listener.received} == {
        "app.vectra.operation.duration",
        "app.vectra.operation.count",
    }


def test_setup_twice_sends_each_metric_once(listener: StatsdListener) -> None:
    datadog.setup(host="127.0.0.1", port=listener.port, trace=False)
    datadog.setup(host="127.0.0.1", port=listener.port, trace=False)
    try:
        with instrument("query", "memory", "docs"):
            pass
    finally:
        datadog.teardown()

    listener.collect(expected=3, timeout=1.0)
    assert len(listener.named("vectra.operation.count")) == 1


def test_nothing_is_sent_when_instrumentation_is_off(settings, statsd: StatsdListener) -> None:
    settings.VECTRA_INSTRUMENTATION = False
    with instrument("query", "memory", "docs"):
        pass

    assert statsd.collect(expected=1, timeout=0.5) == []


def test_nothing_is_sent_after_teardown(listener: StatsdListener) -> None:
    datadog.setup(host="127.0.0.1", port=listener.port, trace=False)
    datadog.teardown()
    with instrument("query", "memory", "docs"):
        pass

    assert listener.collect(expected=1, timeout=0.5) == []


# -- ddtrace -----------------------------------------------------------------------------------


@pytest.fixture
def dd_spans(listener: StatsdListener) -> Iterator[list]:
    """Finished ddtrace spans, kept here and dropped before ddtrace's writer sees them."""
    ddtrace_trace = pytest.importorskip("ddtrace.trace")

    class Keep(ddtrace_trace.TraceFilter):
        def __init__(self) -> None:
            self.spans: list = []

        def process_trace(self, trace):
            self.spans.extend(trace)
            return None  # never exported

    keep = Keep()
    ddtrace_trace.tracer.configure(trace_processors=[keep])
    assert datadog.setup(host="127.0.0.1", port=listener.port, service="vectra-tests")
    yield keep.spans
    datadog.teardown()
    ddtrace_trace.tracer.configure(trace_processors=[])


def test_each_operation_runs_in_a_ddtrace_span(client: Client, index: str, dd_spans: list) -> None:
    client.upsert(index, ids=["x", "y"], values=[[1.0, 0.0], [0.0, 1.0]], namespace="tenant-1")
    dd_spans.clear()
    client.query(index, [1.0, 0.0], top_k=5, namespace="tenant-1")

    (span,) = [s for s in dd_spans if s.name == "vectra.query"]
    assert span.service == "vectra-tests"
    assert span.resource == f"query {index}"
    assert span.span_type == "db"
    assert span.error == 0
    assert span.get_tag("db.system") == client.provider_name
    assert span.get_tag("vectra.index") == index
    assert span.get_tag("vectra.namespace") == "tenant-1"
    assert span.get_metric("vectra.top_k") == 5
    assert span.get_metric("vectra.result_count") == 2
    assert span.duration > 0


def test_a_failed_operation_marks_the_ddtrace_span(client: Client, dd_spans: list) -> None:
    with pytest.raises(NotFoundError):
        client.describe_index(unique_index())

    (span,) = [s for s in dd_spans if s.name == "vectra.describe_index"]
    assert span.error == 1
    assert span.get_tag("error.type").endswith("NotFoundError")


def test_spans_nest_under_the_callers_span(dd_spans: list) -> None:
    from ddtrace.trace import tracer

    with tracer.trace("web.request") as parent, instrument("query", "memory", "docs"):
        pass

    (child,) = [s for s in dd_spans if s.name == "vectra.query"]
    assert child.parent_id == parent.span_id
    assert child.trace_id == parent.trace_id
