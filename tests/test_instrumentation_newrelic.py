"""New Relic: metrics, errors and traces read back from the agent's own stats engines.

The agent runs in developer mode: it connects to its built-in fake collector, so nothing
leaves the process, while everything up to the harvest behaves as in production.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator

import pytest

from vectra_django import Client
from vectra_django.errors import NotFoundError
from vectra_django.instrumentation import instrument
from vectra_django.instrumentation import newrelic as nr_instrumentation

from .instrumentation_helpers import PROVIDER_PARAMS, build_client, unique_index

agent = pytest.importorskip("newrelic.agent")

APP_NAME = "vectra-django-tests"


@pytest.fixture(scope="module")
def nr_app():
    """The agent's application, active in developer mode (no collector, no network)."""
    settings = agent.global_settings()
    settings.app_name = APP_NAME
    settings.license_key = "0" * 40
    settings.developer_mode = True
    settings.enabled = True
    for cloud in ("aws", "azure", "gcp", "pcf", "docker", "kubernetes"):
        setattr(settings.utilization, f"detect_{cloud}", False)
    application = agent.register_application(name=APP_NAME, timeout=10.0)
    assert application.active, "the New Relic agent did not start in developer mode"
    return application


class Stats:
    """Reads metrics and errors the agent has aggregated for one application."""

    def __init__(self) -> None:
        from newrelic.core.agent import agent_instance

        self.core = agent_instance().application(APP_NAME)

    def _engines(self):
        # Metrics recorded outside a transaction land in the custom engine; transactions
        # merge theirs (and their errors) into the main one when they end.
        return (self.core._stats_custom_engine, self.core._stats_engine)

    def metric(self, name: str, scope: str = "") -> tuple[int, float] | None:
        """``(call_count, total)`` for ``name``, or None when never recorded."""
        found = [e.stats_table.get((name, scope)) for e in self._engines()]
        found = [s for s in found if s is not None]
        if not found:
            return None
        return sum(s[0] for s in found), sum(s[1] for s in found)

    def names(self, prefix: str) -> set[str]:
        return {
            name for e in self._engines() for name, _ in e.stats_table if name.startswith(prefix)
        }

    def errors(self, message: str) -> list:
        return [e for e in self.core._stats_engine.error_data() if e.message == message]


@pytest.fixture(autouse=True)
def _instrumentation_on(settings) -> None:
    settings.VECTRA_INSTRUMENTATION = True


@pytest.fixture
def stats(nr_app) -> Iterator[Stats]:
    assert nr_instrumentation.setup(application=nr_app)
    yield Stats()
    nr_instrumentation.teardown()


def fresh_operation() -> str:
    """An operation name no other test used, so metrics start from zero."""
    return f"op_{uuid.uuid4().hex[:10]}"


def test_custom_metrics_outside_a_transaction(stats: Stats) -> None:
    operation = fresh_operation()
    with instrument(operation, "pgvector", "docs") as details:
        details["result_count"] = 7
    with instrument(operation, "pgvector", "docs") as details:
        details["result_count"] = 3

    prefix = f"Custom/Vectra/pgvector/{operation}"
    assert stats.metric(f"{prefix}/calls") == (2, 2)
    assert stats.metric(f"{prefix}/success") == (2, 2)
    assert stats.metric(f"{prefix}/error") is None
    assert stats.metric(f"{prefix}/results") == (2, 10)
    count, total = stats.metric(f"{prefix}/duration")
    assert count == 2
    assert total > 0


def test_duration_is_recorded_in_milliseconds(stats: Stats) -> None:
    import time

    operation = fresh_operation()
    with instrument(operation, "memory"):
        time.sleep(0.1)

    _, total = stats.metric(f"Custom/Vectra/memory/{operation}/duration")
    assert 100 <= total < 5000


def test_a_failure_records_the_error_metric_and_notices_the_error(stats: Stats) -> None:
    operation = fresh_operation()
    message = f"lost connection {uuid.uuid4().hex}"
    with pytest.raises(ConnectionError), instrument(operation, "pgvector", "docs"):
        raise ConnectionError(message)

    prefix = f"Custom/Vectra/pgvector/{operation}"
    assert stats.metric(f"{prefix}/error") == (1, 1)
    assert stats.metric(f"{prefix}/success") is None
    assert stats.metric(f"{prefix}/calls") == (1, 1)
    (error,) = stats.errors(message)
    assert error.type.endswith("ConnectionError")
    assert error.parameters["userAttributes"]["vectra.operation"] == operation
    assert error.parameters["userAttributes"]["vectra.index"] == "docs"


@pytest.fixture(params=PROVIDER_PARAMS)
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    yield from build_client(request, request.param)


def test_a_real_query_inside_a_transaction_is_traced_and_measured(
    client: Client, stats: Stats, nr_app
) -> None:
    index = unique_index()
    client.create_index(index, dimension=2)
    client.upsert(index, ids=["a", "b"], values=[[1.0, 0.0], [0.0, 1.0]])
    provider = client.provider_name
    before = stats.metric(f"Custom/Vectra/{provider}/query/calls") or (0, 0)
    task = f"vectra-task-{uuid.uuid4().hex[:8]}"

    with agent.BackgroundTask(nr_app, name=task):
        client.query(index, [1.0, 0.0], top_k=2)

    calls = stats.metric(f"Custom/Vectra/{provider}/query/calls")
    assert calls[0] - before[0] == 1
    scope = f"OtherTransaction/Function/{task}"
    statement = f"Datastore/statement/{provider}/{index}/query"
    assert stats.metric(statement, scope=scope)[0] == 1
    assert stats.metric(f"Datastore/operation/{provider}/query")[0] >= 1


def test_an_error_inside_a_transaction_is_noticed_on_it(
    client: Client, stats: Stats, nr_app
) -> None:
    missing = unique_index()
    task = f"vectra-task-{uuid.uuid4().hex[:8]}"

    with agent.BackgroundTask(nr_app, name=task), pytest.raises(NotFoundError):
        client.describe_index(missing)

    (error,) = [e for e in stats.core._stats_engine.error_data() if missing in e.message]
    assert error.path == f"OtherTransaction/Function/{task}"
    assert error.type.endswith("NotFoundError")


def test_no_trace_is_started_outside_a_transaction(stats: Stats) -> None:
    index = unique_index()
    with instrument("query", "memory", index):
        pass

    assert stats.names(f"Datastore/statement/memory/{index}") == set()


def test_setup_twice_records_each_metric_once(stats: Stats, nr_app) -> None:
    assert nr_instrumentation.setup(application=nr_app)
    operation = fresh_operation()
    with instrument(operation, "memory"):
        pass

    assert stats.metric(f"Custom/Vectra/memory/{operation}/calls") == (1, 1)


def test_without_the_agent_setup_logs_and_does_nothing(
    nr_app, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with monkeypatch.context() as absent:
        absent.setitem(sys.modules, "newrelic.agent", None)  # makes the import fail
        with caplog.at_level(logging.WARNING, logger="vectra_django.instrumentation.newrelic"):
            assert nr_instrumentation.setup() is False

    assert "newrelic package is not installed" in caplog.text
    operation = fresh_operation()
    with instrument(operation, "memory"):
        pass
    assert Stats().names(f"Custom/Vectra/memory/{operation}") == set()
