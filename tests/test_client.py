"""Client behaviour beyond the provider contract: binding, settings, errors, health."""

from __future__ import annotations

import numpy as np
import pytest
from django.test import override_settings

from vectra_django import Client, clients
from vectra_django.errors import (
    ConfigurationError,
    NotFoundError,
    UnsupportedFeatureError,
    ValidationError,
)
from vectra_django.providers import BaseProvider
from vectra_django.providers.memory import MemoryProvider


@pytest.fixture
def client() -> Client:
    c = Client(provider="memory", max_retries=0)
    c.create_index("docs", dimension=2)
    return c


def test_client_accepts_a_provider_instance() -> None:
    provider = MemoryProvider()
    assert Client(provider).provider is provider


def test_client_refuses_options_with_a_provider_instance() -> None:
    with pytest.raises(ValidationError, match="Provider options"):
        Client(MemoryProvider(), url="x")


def test_client_unknown_provider_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="Unknown provider 'milvus'"):
        Client(provider="milvus")


def test_client_dotted_provider_path() -> None:
    c = Client(provider="vectra_django.providers.memory.MemoryProvider")
    assert c.provider_name == "memory"


def test_client_bad_dotted_path_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="Cannot import provider"):
        Client(provider="no.such.Provider")


def test_client_without_index_is_rejected() -> None:
    with pytest.raises(ValidationError, match="No index given"):
        Client(provider="memory").query(vector=[1.0, 0.0])


def test_bind_shares_the_provider_and_leaves_the_original_alone(client: Client) -> None:
    bound = client.bind(index="docs", namespace="t")
    assert bound.provider is client.provider
    assert (client.default_index, client.default_namespace) == (None, "")
    assert (bound.default_index, bound.default_namespace) == ("docs", "t")
    assert bound.bind(namespace="u").default_index == "docs"


def test_bind_validates_names(client: Client) -> None:
    with pytest.raises(ValidationError):
        client.bind(index="Bad Name")


def test_query_needs_exactly_one_of_vector_and_id(client: Client) -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        client.query("docs")
    with pytest.raises(ValidationError, match="exactly one"):
        client.query("docs", vector=[1.0, 0.0], id="a")


def test_query_by_missing_id_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.query("docs", id="missing")


@pytest.mark.parametrize("threshold", ["0.5", float("nan"), True])
def test_query_rejects_bad_score_threshold(client: Client, threshold) -> None:
    with pytest.raises(ValidationError, match="score_threshold"):
        client.query("docs", vector=[1.0, 0.0], score_threshold=threshold)


def test_delete_with_empty_filter_is_rejected(client: Client) -> None:
    with pytest.raises(ValidationError, match="empty filter"):
        client.delete("docs", filter={})


def test_delete_with_two_selectors_is_rejected(client: Client) -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        client.delete("docs", ids=["a"], delete_all=True)


def test_index_exists(client: Client) -> None:
    assert client.index_exists("docs")
    assert not client.index_exists("other")


def test_create_index_rejects_bad_metric(client: Client) -> None:
    with pytest.raises(ValidationError, match="Unknown metric"):
        client.create_index("x", dimension=2, metric="hamming")


def test_delete_index_forgets_the_cached_dimension(client: Client) -> None:
    client.upsert("docs", [{"id": "a", "values": [1.0, 0.0]}])
    client.delete_index("docs")
    client.create_index("docs", dimension=3)
    client.upsert("docs", [{"id": "a", "values": [1.0, 0.0, 0.0]}])
    assert client.fetch("docs", ["a"])["a"].dimension == 3


def test_fetch_deduplicates_ids(client: Client) -> None:
    client.upsert("docs", ids=["a"], values=np.ones((1, 2)))
    assert list(client.fetch("docs", ["a", "a"])) == ["a"]


def test_ping_reports_latency(client: Client) -> None:
    ping = client.ping()
    assert ping["healthy"] is True and ping["latency_ms"] >= 0


def test_healthy_never_raises() -> None:
    class Broken(MemoryProvider):
        def healthy(self) -> bool:
            raise RuntimeError("down")

    assert Client(Broken()).healthy() is False


def test_client_is_a_context_manager() -> None:
    closed = []

    class Tracking(MemoryProvider):
        def close(self) -> None:
            closed.append(True)

    with Client(Tracking()) as c:
        assert c.healthy()
    assert closed == [True]


def test_repr_names_provider_and_alias() -> None:
    assert (
        repr(Client(provider="memory", alias="x"))
        == "<Client provider='memory' alias='x' index=None>"
    )


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="batch_size"):
        Client(provider="memory", batch_size=-1)


# -- clients[alias] -------------------------------------------------------------------------


@override_settings(VECTRA={"mem": {"PROVIDER": "memory", "BATCH_SIZE": 7, "MAX_RETRIES": 4}})
def test_clients_builds_from_settings() -> None:
    c = clients["mem"]
    assert c.provider_name == "memory" and c.alias == "mem"
    assert c.batch_size == 7 and c.retry_policy.max_attempts == 5
    assert clients["mem"] is c


def test_clients_forgets_clients_when_settings_change() -> None:
    with override_settings(VECTRA={"mem": {"PROVIDER": "memory"}}):
        first = clients["mem"]
    with override_settings(VECTRA={"mem": {"PROVIDER": "memory"}}):
        assert clients["mem"] is not first


@override_settings(VECTRA={"mem": {"PROVIDER": "memory"}})
def test_clients_unknown_alias_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="alias 'nope' doesn't exist"):
        clients["nope"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"x": {"URL": "y"}}, "PROVIDER"),
        ({"x": "memory"}, "PROVIDER"),
        (["memory"], "must be a dict"),
    ],
)
def test_clients_rejects_malformed_settings(setting, message) -> None:
    with override_settings(VECTRA=setting), pytest.raises(ConfigurationError, match=message):
        clients["x"]


def test_clients_default_alias_is_pgvector_on_the_default_database() -> None:
    from vectra_django.client.registry import ClientHandler

    with override_settings():
        from django.conf import settings

        del settings.VECTRA
        assert ClientHandler().settings == {
            "default": {"PROVIDER": "pgvector", "DATABASE": "default"}
        }


def test_from_settings_without_provider() -> None:
    with pytest.raises(ConfigurationError, match="no PROVIDER"):
        Client.from_settings({"URL": "x"}, alias="a")


class StrictMemoryProvider(MemoryProvider):
    """A memory store that refuses vectors whose metadata says so, like a stricter store."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.upserts = 0

    def validate_batch(self, batch) -> None:
        for vid, meta in zip(batch.ids, batch.metadata, strict=True):
            if meta.get("refused"):
                raise ValidationError(f"Vector {vid!r} is refused by this store.")

    def upsert(self, index, batch, namespace):
        self.upserts += 1
        return super().upsert(index, batch, namespace)


def test_store_checks_run_on_the_whole_batch_before_any_chunk_is_written() -> None:
    provider = StrictMemoryProvider()
    c = Client(provider, batch_size=10, max_retries=0)
    c.create_index("docs", dimension=2)
    rows = [{"id": f"v{i}", "values": [1.0, float(i)]} for i in range(29)]
    rows.append({"id": "last", "values": [1.0, 0.0], "metadata": {"refused": True}})
    with pytest.raises(ValidationError, match="'last'"):
        c.upsert("docs", rows)
    assert provider.upserts == 0
    assert c.stats("docs")["total_vector_count"] == 0


def test_list_ids_on_a_provider_without_it_is_unsupported() -> None:
    class Bare:
        name = "bare"

    with pytest.raises(UnsupportedFeatureError, match="listing ids"):
        Client(Bare()).list_ids("docs")


def test_list_ids_on_a_provider_that_cannot_is_unsupported_when_read() -> None:
    class Plain(BaseProvider):
        name = "plain"

    ids = Client(Plain()).list_ids("docs")
    with pytest.raises(UnsupportedFeatureError, match="listing ids"):
        next(ids)


def test_list_ids_is_lazy_and_reads_a_page_per_request(client: Client, settings) -> None:
    from vectra_django import on_operation

    settings.VECTRA_INSTRUMENTATION = True
    client.upsert("docs", ids=[f"v{i}" for i in range(5)], values=np.ones((5, 2)))
    events = []
    on_operation(events.append)
    ids = client.list_ids("docs", page_size=2)
    assert events == []
    assert next(ids) == "v0"
    assert list(ids) == ["v1", "v2", "v3", "v4"]
    pages = [e for e in events if e.operation == "list_ids"]
    assert [e.metadata["result_count"] for e in pages] == [2, 2, 1]
