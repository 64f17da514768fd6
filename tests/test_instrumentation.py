"""Operation events: the handler API, the signal, the tracer hook and every client operation."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.test import override_settings

import vectra_django
from vectra_django import Client
from vectra_django.errors import NotFoundError
from vectra_django.instrumentation import (
    Event,
    add_tracer,
    clear_handlers,
    instrument,
    on_operation,
    operation_completed,
    remove_handler,
)

from .instrumentation_helpers import PROVIDER_PARAMS, Recorder, build_client, unique_index


@pytest.fixture(autouse=True)
def _instrumentation_on(settings) -> None:
    settings.VECTRA_INSTRUMENTATION = True


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


# -- the event API ---------------------------------------------------------------------------


def test_handlers_are_called_with_the_event(recorder: Recorder) -> None:
    with instrument(operation="test", provider="pgvector", index="test_index"):
        time.sleep(0.1)

    assert len(recorder.events) == 1
    event = recorder.events[0]
    assert (event.operation, event.provider, event.index) == ("test", "pgvector", "test_index")
    assert event.duration >= 100
    assert event.success is True
    assert event.failure is False
    assert event.error is None


def test_duration_is_in_milliseconds(recorder: Recorder) -> None:
    with instrument(operation="test", provider="memory"):
        time.sleep(0.1)

    assert 100 <= recorder.events[0].duration < 5000


def test_errors_are_captured_and_reraised(recorder: Recorder) -> None:
    with (
        pytest.raises(ValueError, match="Test error") as raised,
        instrument(operation="test", provider="pgvector", index="test"),
    ):
        raise ValueError("Test error")

    event = recorder.only("test")
    assert event.failure is True
    assert event.success is False
    assert event.error is raised.value
    assert str(event.error) == "Test error"


def test_metadata_and_namespace_reach_the_event(recorder: Recorder) -> None:
    with instrument(
        operation="upsert",
        provider="memory",
        index="docs",
        namespace="tenant-1",
        metadata={"vector_count": 2},
    ) as details:
        details["batch_count"] = 1

    event = recorder.only("upsert")
    assert event.namespace == "tenant-1"
    assert event.metadata == {"vector_count": 2, "batch_count": 1}


def test_the_callers_metadata_dict_is_not_modified(recorder: Recorder) -> None:
    given = {"vector_count": 2}
    with instrument(operation="upsert", provider="memory", metadata=given) as details:
        details["batch_count"] = 1

    assert given == {"vector_count": 2}


def test_on_operation_works_as_a_decorator_and_from_the_package() -> None:
    seen: list[str] = []

    def handler(event: Event) -> None:
        seen.append(event.operation)

    decorated = vectra_django.on_operation(handler)
    with instrument(operation="query", provider="memory"):
        pass

    assert decorated is handler  # the decorator hands the function back unchanged
    assert vectra_django.on_operation is on_operation
    assert seen == ["query"]


def test_registering_a_handler_twice_calls_it_once(recorder: Recorder) -> None:
    on_operation(recorder)

    with instrument(operation="query", provider="memory"):
        pass

    assert len(recorder.events) == 1


def test_removed_and_cleared_handlers_are_not_called(recorder: Recorder) -> None:
    other = Recorder()
    remove_handler(recorder)
    with instrument(operation="query", provider="memory"):
        pass
    clear_handlers()
    with instrument(operation="query", provider="memory"):
        pass

    assert recorder.events == []
    assert len(other.events) == 1


def test_a_failing_handler_is_logged_and_does_not_break_the_operation(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("handler bug")

    on_operation(broken)
    after = Recorder()

    with (
        caplog.at_level(logging.ERROR, logger="vectra_django.instrumentation"),
        instrument(operation="query", provider="memory") as details,
    ):
        details["result_count"] = 3

    assert len(recorder.events) == 1
    assert len(after.events) == 1
    assert "Instrumentation handler" in caplog.text
    assert "handler bug" in caplog.text


def test_the_signal_receives_the_event(recorder: Recorder) -> None:
    received: list[tuple[str, Event]] = []

    def receiver(sender: str, event: Event, **kwargs) -> None:
        received.append((sender, event))

    operation_completed.connect(receiver)
    try:
        with instrument(operation="fetch", provider="memory", index="docs"):
            pass
    finally:
        operation_completed.disconnect(receiver)

    assert received == [("memory", recorder.only("fetch"))]


def test_a_failing_signal_receiver_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def receiver(sender: str, event: Event, **kwargs) -> None:
        raise RuntimeError("receiver bug")

    operation_completed.connect(receiver)
    try:
        with (
            caplog.at_level(logging.ERROR, logger="vectra_django.instrumentation"),
            instrument(operation="fetch", provider="memory"),
        ):
            pass
    finally:
        operation_completed.disconnect(receiver)

    assert "Instrumentation receiver" in caplog.text
    assert "receiver bug" in caplog.text


def test_instrumentation_off_emits_nothing(recorder: Recorder) -> None:
    received: list[Event] = []

    def receiver(sender: str, event: Event, **kwargs) -> None:
        received.append(event)

    operation_completed.connect(receiver)
    try:
        with override_settings(VECTRA_INSTRUMENTATION=False):
            with instrument(operation="query", provider="memory") as details:
                details["result_count"] = 1
            client = Client(provider="memory")
            client.create_index("docs", dimension=2)
            client.query("docs", [1.0, 0.0])
    finally:
        operation_completed.disconnect(receiver)

    assert recorder.events == []
    assert received == []


def test_the_setting_is_read_at_call_time(recorder: Recorder, settings) -> None:
    settings.VECTRA_INSTRUMENTATION = False
    with instrument(operation="first", provider="memory"):
        pass
    settings.VECTRA_INSTRUMENTATION = True
    with instrument(operation="second", provider="memory"):
        pass

    assert [e.operation for e in recorder.events] == ["second"]


def test_errors_propagate_when_instrumentation_is_off(recorder: Recorder, settings) -> None:
    settings.VECTRA_INSTRUMENTATION = False
    with pytest.raises(KeyError), instrument(operation="query", provider="memory"):
        raise KeyError("x")

    assert recorder.events == []


# -- tracers -----------------------------------------------------------------------------------


def test_a_tracer_runs_around_the_block_and_sees_the_final_metadata(recorder: Recorder) -> None:
    calls: list[tuple] = []

    @add_tracer
    @contextmanager
    def tracer(*, operation, provider, index, namespace, metadata) -> Iterator[None]:
        calls.append(("enter", operation, provider, index, namespace, dict(metadata)))
        yield
        calls.append(("exit", dict(metadata), len(recorder.events)))

    with instrument("query", "memory", "docs", "ns", metadata={"top_k": 5}) as details:
        calls.append(("block",))
        details["result_count"] = 4

    assert calls == [
        ("enter", "query", "memory", "docs", "ns", {"top_k": 5}),
        ("block",),
        ("exit", {"top_k": 5, "result_count": 4}, 0),
    ]
    assert len(recorder.events) == 1


def test_a_tracer_sees_the_error_and_cannot_swallow_it(recorder: Recorder) -> None:
    seen: list[BaseException] = []

    @add_tracer
    @contextmanager
    def swallowing(**kwargs) -> Iterator[None]:
        try:
            yield
        except ValueError as exc:
            seen.append(exc)

    with pytest.raises(ValueError, match="boom"), instrument("query", "memory"):
        raise ValueError("boom")

    assert [str(e) for e in seen] == ["boom"]
    assert str(recorder.only("query").error) == "boom"


def test_tracers_are_entered_in_order_and_exited_in_reverse() -> None:
    order: list[str] = []

    def named(name: str):
        @contextmanager
        def tracer(**kwargs) -> Iterator[None]:
            order.append(f"enter {name}")
            yield
            order.append(f"exit {name}")

        return tracer

    add_tracer(named("a"))
    add_tracer(named("b"))
    with instrument("query", "memory"):
        order.append("block")

    assert order == ["enter a", "enter b", "block", "exit b", "exit a"]


def test_a_failing_tracer_is_logged_and_does_not_break_the_operation(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    def cannot_start(**kwargs):
        raise RuntimeError("start bug")

    @contextmanager
    def cannot_finish(**kwargs) -> Iterator[None]:
        yield
        raise RuntimeError("finish bug")

    add_tracer(cannot_start)
    add_tracer(cannot_finish)
    with (
        caplog.at_level(logging.ERROR, logger="vectra_django.instrumentation"),
        instrument("query", "memory") as details,
    ):
        details["result_count"] = 1

    assert recorder.only("query").success
    assert "start bug" in caplog.text
    assert "finish bug" in caplog.text


def test_tracers_are_not_entered_when_instrumentation_is_off(settings) -> None:
    entered: list[str] = []

    @add_tracer
    @contextmanager
    def tracer(**kwargs) -> Iterator[None]:
        entered.append(kwargs["operation"])
        yield

    settings.VECTRA_INSTRUMENTATION = False
    with instrument("query", "memory"):
        pass

    assert entered == []


def test_clear_handlers_also_forgets_tracers() -> None:
    entered: list[str] = []

    @add_tracer
    @contextmanager
    def tracer(**kwargs) -> Iterator[None]:
        entered.append(kwargs["operation"])
        yield

    clear_handlers()
    with instrument("query", "memory"):
        pass

    assert entered == []


# -- client operations, per provider -------------------------------------------------------


@pytest.fixture(params=PROVIDER_PARAMS)
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    yield from build_client(request, request.param, batch_size=2)


@pytest.fixture
def index(client: Client) -> str:
    name = unique_index()
    client.create_index(name, dimension=3)
    client.upsert(
        name,
        [
            {"id": "a", "values": [1.0, 0.0, 0.0], "metadata": {"kind": "x"}},
            {"id": "b", "values": [0.0, 1.0, 0.0], "metadata": {"kind": "y"}},
            {"id": "c", "values": [0.0, 0.0, 1.0], "metadata": {"kind": "x"}},
        ],
    )
    return name


def test_create_index_event(client: Client, recorder: Recorder) -> None:
    name = unique_index()
    client.create_index(name, dimension=3)

    event = recorder.only("create_index")
    assert (event.provider, event.index, event.success) == (client.provider_name, name, True)
    assert event.provider in {"memory", "pgvector"}
    assert event.metadata == {"dimension": 3}
    assert event.duration > 0


def test_upsert_event_counts_vectors_and_batches(
    client: Client, index: str, recorder: Recorder
) -> None:
    client.upsert(
        index,
        ids=["d", "e", "f"],
        values=[[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]],
        namespace="tenant-1",
    )

    event = recorder.only("upsert")
    assert (event.index, event.namespace) == (index, "tenant-1")
    assert event.metadata == {"vector_count": 3, "batch_count": 2}


def test_query_event_has_top_k_and_result_count(
    client: Client, index: str, recorder: Recorder
) -> None:
    result = client.query(index, [1.0, 0.1, 0.0], top_k=2)

    event = recorder.only("query")
    assert len(result) == 2
    assert (event.index, event.namespace, event.success) == (index, "", True)
    assert event.metadata == {"top_k": 2, "result_count": 2}


def test_query_event_result_count_follows_the_filter(
    client: Client, index: str, recorder: Recorder
) -> None:
    client.query(index, [1.0, 0.0, 0.0], top_k=10, filter={"kind": "y"})

    assert recorder.only("query").metadata == {"top_k": 10, "result_count": 1}


def test_fetch_event_has_id_count_and_result_count(
    client: Client, index: str, recorder: Recorder
) -> None:
    client.fetch(index, ["a", "b", "missing"])

    assert recorder.only("fetch").metadata == {"id_count": 3, "result_count": 2}


def test_update_event_has_id_count(client: Client, index: str, recorder: Recorder) -> None:
    client.update(index, "a", metadata={"kind": "z"})

    event = recorder.only("update")
    assert (event.index, event.success) == (index, True)
    assert event.metadata == {"id_count": 1}


def test_delete_by_ids_event_has_id_count(client: Client, index: str, recorder: Recorder) -> None:
    client.delete(index, ["a", "b"])

    event = recorder.only("delete")
    assert (event.index, event.success) == (index, True)
    assert event.metadata == {"id_count": 2}


def test_delete_by_filter_event(client: Client, index: str, recorder: Recorder) -> None:
    client.delete(index, filter={"kind": "x"})

    event = recorder.only("delete")
    assert (event.index, event.success) == (index, True)
    assert "id_count" not in event.metadata


def test_stats_event(client: Client, index: str, recorder: Recorder) -> None:
    client.stats(index, namespace="tenant-1")

    event = recorder.only("stats")
    assert (event.index, event.namespace, event.success) == (index, "tenant-1", True)


def test_list_indexes_event_has_result_count(
    client: Client, index: str, recorder: Recorder
) -> None:
    names = client.list_indexes()

    event = recorder.only("list_indexes")
    assert event.index is None
    assert event.metadata == {"result_count": len(names)}
    assert len(names) >= 1


def test_describe_index_event(client: Client, index: str, recorder: Recorder) -> None:
    client.describe_index(index)

    event = recorder.only("describe_index")
    assert (event.provider, event.index, event.success) == (client.provider_name, index, True)


def test_delete_index_event(client: Client, index: str, recorder: Recorder) -> None:
    client.delete_index(index)

    event = recorder.only("delete_index")
    assert (event.index, event.success) == (index, True)


def test_a_failed_operation_emits_a_failure_event(client: Client, recorder: Recorder) -> None:
    missing = unique_index()
    with pytest.raises(NotFoundError) as raised:
        client.describe_index(missing)

    event = recorder.only("describe_index")
    assert event.failure
    assert event.error is raised.value
    assert event.index == missing


def test_query_by_id_reports_the_fetch_and_the_query(
    client: Client, index: str, recorder: Recorder
) -> None:
    client.query(index, id="a", top_k=1)

    assert [e.operation for e in recorder.events] == ["fetch", "query"]
    assert recorder.only("fetch").metadata == {"id_count": 1, "result_count": 1}
    assert recorder.only("query").metadata == {"top_k": 1, "result_count": 1}


def test_events_carry_the_short_provider_name(client: Client, recorder: Recorder) -> None:
    client.list_indexes()

    assert recorder.only("list_indexes").provider == client.provider.name
    assert "." not in recorder.only("list_indexes").provider
