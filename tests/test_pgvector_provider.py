"""The pgvector provider beyond the shared contract: SQL shape, plans, settings and errors.

Runs on the real test database: through the provider's own pool (``URL``) or Django's
connection (``DATABASE``) inside pytest-django's per-test transaction.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
import pytest

from tests.contract.pgvector_providers import url_for_test_database
from vectra_django import Client, errors
from vectra_django.retry import is_retryable

ClientFactory = Callable[..., Client]


@pytest.fixture
def django_client(db: None) -> Client:
    return Client(provider="pgvector", database="default", max_retries=0)


@pytest.fixture
def name() -> str:
    return f"pt-{uuid.uuid4().hex[:10]}"


def random_matrix(rows: int, dimension: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((rows, dimension), dtype=np.float32)


class StatementCounter:
    """Counts what psycopg cursors send, by wrapping their methods (the server is real)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        self.statements: list[str] = []
        for method in ("execute", "executemany", "copy"):
            original = getattr(psycopg.Cursor, method)
            monkeypatch.setattr(psycopg.Cursor, method, self._wrap(method, original))

    def _wrap(self, method: str, original: Any) -> Any:
        thread = threading.get_ident()

        def wrapper(cursor: Any, *args: Any, **kwargs: Any) -> Any:
            # Only this thread: the pool's workers may be opening spare connections.
            if threading.get_ident() == thread:
                self.calls.append(method)
                statement = args[0] if args else ""
                if not isinstance(statement, str):
                    statement = statement.as_string(cursor.connection)
                self.statements.append(statement)
            return original(cursor, *args, **kwargs)

        return wrapper


def test_upsert_bulk_loads_with_copy_in_few_statements(
    url_client: ClientFactory, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = url_client()
    # No vector index: this test is about round trips, and HNSW inserts would only add time.
    client.create_index(name, dimension=384, index_type="none")
    matrix = random_matrix(10_000, 384)
    ids = [f"doc-{i}" for i in range(10_000)]
    metadata = [{"n": i, "even": i % 2 == 0} for i in range(10_000)]
    counter = StatementCounter(monkeypatch)
    written = client.upsert(name, ids=ids, values=matrix, metadata=metadata)["upserted_count"]
    monkeypatch.undo()
    assert written == 10_000
    assert counter.calls.count("copy") == 2  # two provider batches of 5,000
    # Plus a fixed few for the deferred build: count, lock, catalog, drop, settings, create,
    # analyze.
    assert len(counter.calls) <= 17
    assert client.stats(name)["total_vector_count"] == 10_000
    fetched = client.fetch(name, ids)
    stored = np.array([fetched[vid].values for vid in ids], dtype=np.float32)
    assert np.array_equal(stored, matrix)
    assert fetched["doc-4321"].metadata == {"n": 4321, "even": False}


def test_upsert_copy_path_replaces_existing_rows(url_client: ClientFactory, name: str) -> None:
    client = url_client()
    client.create_index(name, dimension=8)
    ids = [f"v{i}" for i in range(200)]
    client.upsert(name, ids=ids, values=random_matrix(200, 8, seed=1))
    replacement = random_matrix(200, 8, seed=2)
    client.upsert(name, ids=ids, values=replacement, metadata=[{"v": 2}] * 200)
    assert client.stats(name)["total_vector_count"] == 200
    assert client.fetch(name, ["v9"])["v9"].values == pytest.approx(replacement[9].tolist())
    assert client.fetch(name, ["v9"])["v9"].metadata == {"v": 2}


def test_upsert_of_new_ids_copies_straight_into_the_index_table(
    url_client: ClientFactory, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = url_client()
    client.create_index(name, dimension=8)
    ids = [f"n{i}" for i in range(300)]
    matrix = random_matrix(300, 8, seed=3)
    counter = StatementCounter(monkeypatch)
    client.upsert(
        name, ids=ids, values=matrix, metadata=[{"i": i} for i in range(300)], namespace="ns"
    )
    monkeypatch.undo()
    copies = [s for s in counter.statements if s.startswith("COPY")]
    assert len(copies) == 1 and "(namespace, id, embedding, metadata, text)" in copies[0]
    assert not any("TEMP TABLE" in s for s in counter.statements)
    assert client.stats(name)["namespaces"] == {"ns": {"vector_count": 300}}
    fetched = client.fetch(name, ["n7"], namespace="ns")["n7"]
    assert fetched.values == pytest.approx(matrix[7].tolist())
    assert fetched.metadata == {"i": 7}
    assert fetched.namespace == "ns"


def test_upsert_over_stored_ids_merges_and_later_batches_check_first(
    url_client: ClientFactory, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = url_client()
    client.create_index(name, dimension=8)
    client.upsert(name, ids=[f"v{i}" for i in range(100)], values=random_matrix(100, 8, seed=4))
    matrix = random_matrix(200, 8, seed=5)
    counter = StatementCounter(monkeypatch)
    client.upsert(name, ids=[f"v{i}" for i in range(50, 250)], values=matrix)
    first = counter.statements[:]
    counter.statements.clear()
    client.upsert(name, ids=[f"v{i}" for i in range(200)], values=random_matrix(200, 8, seed=6))
    second = counter.statements[:]
    counter.statements.clear()
    client.upsert(name, ids=[f"w{i}" for i in range(100)], values=random_matrix(100, 8, seed=7))
    third = counter.statements[:]
    monkeypatch.undo()

    def kinds(statements: list[str]) -> list[str]:
        found = []
        for s in statements:
            if s.startswith("COPY") and "(namespace, id" in s:
                found.append("copy-in")
            elif "TEMP TABLE" in s:
                found.append("staging")
            elif "EXISTS" in s:
                found.append("check")
        return found

    assert kinds(first) == ["copy-in", "staging"]  # tried, met stored ids, merged
    assert kinds(second) == ["check", "staging"]  # no wasted COPY once ids were met
    assert kinds(third) == ["check", "copy-in"]  # new ids again: straight in
    assert client.stats(name)["total_vector_count"] == 350
    assert client.fetch(name, ["v240"])["v240"].values == pytest.approx(matrix[190].tolist())


@pytest.mark.parametrize("in_caller_transaction", [False, True])
def test_direct_copy_that_meets_a_concurrent_row_falls_back_to_merging(
    django_client: Client, name: str, monkeypatch: pytest.MonkeyPatch, in_caller_transaction: bool
) -> None:
    from django.db import transaction

    from vectra_django.providers.pgvector import writes

    django_client.create_index(name, dimension=4)
    django_client.upsert(name, ids=[f"c{i}" for i in range(100)], values=random_matrix(100, 4))
    # As if another writer stored the ids between the existence check and the COPY.
    monkeypatch.setattr(writes, "any_exist", lambda *a: False)
    ids = [f"c{i}" for i in range(150)]
    with transaction.atomic() if in_caller_transaction else contextlib.nullcontext():
        for seed in (6, 7):  # the optimistic COPY, then the checked one
            matrix = random_matrix(150, 4, seed=seed)
            django_client.upsert(name, ids=ids, values=matrix)
        assert django_client.stats(name)["total_vector_count"] == 150
    assert django_client.fetch(name, ["c3"])["c3"].values == pytest.approx(matrix[3].tolist())
    assert django_client.fetch(name, ["c120"])["c120"].values == pytest.approx(matrix[120].tolist())


def test_upsert_copy_twice_in_one_caller_transaction(django_client: Client, name: str) -> None:
    from django.db import transaction

    django_client.create_index(name, dimension=4)
    with transaction.atomic():
        django_client.upsert(name, ids=[f"a{i}" for i in range(100)], values=random_matrix(100, 4))
        django_client.upsert(name, ids=[f"b{i}" for i in range(100)], values=random_matrix(100, 4))
    assert django_client.stats(name)["total_vector_count"] == 200


def test_query_plan_stays_custom_and_uses_hnsw_after_auto_prepare(
    url_client: ClientFactory, name: str
) -> None:
    """psycopg prepares a statement on its fifth execution; from then on PostgreSQL may
    switch to a generic plan that cannot order by the HNSW index.

    auto_explain reports the plan each execution actually ran. At a test-sized table
    PostgreSQL would happen to keep custom plans even without ``force_custom_plan`` (the
    switch shows at ~100k rows), so besides the index scan this asserts the setting the
    pool's session runs with and that the prepared statement never ran a generic plan.
    """
    client = url_client(pool_size=1)  # one connection: the one we watch
    client.create_index(name, dimension=16)
    matrix = random_matrix(2_000, 16)
    client.upsert(name, ids=[f"v{i}" for i in range(2_000)], values=matrix)
    table = client.describe_index(name)["table"]
    client.provider.execute(f'ANALYZE "{table}"')  # autovacuum would, given a minute
    notices: list[str] = []
    with client.provider._source.pool().connection() as conn:  # type: ignore[attr-defined]
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        for statement in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_level = notice",
            "SET auto_explain.log_format = json",
            "SET auto_explain.log_settings = on",
        ):
            conn.execute(statement)
    for i in range(8):
        assert client.query(name, vector=matrix[i], top_k=5).ids[0] == f"v{i}"
    plans = [json.loads(n.split("plan:", 1)[1]) for n in notices if "ORDER BY embedding" in n]
    assert len(plans) == 8
    for plan in plans:
        text = json.dumps(plan["Plan"])
        assert '"Node Type": "Index Scan"' in text and f"{table}_embedding_idx" in text
        assert plan["Settings"]["plan_cache_mode"] == "force_custom_plan"
    with client.provider._source.pool().connection() as conn:  # type: ignore[attr-defined]
        prepared = conn.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s",
            ["%ORDER BY embedding%"],
        ).fetchall()
    assert prepared and prepared[0][0] == 0 and prepared[0][1] >= 3


def test_query_filtered_with_iterative_scan_returns_k_rows(
    url_client: ClientFactory, name: str
) -> None:
    client = url_client(pool_size=1)
    client.create_index(name, dimension=16)
    matrix = random_matrix(3_000, 16)
    metadata = [{"kind": "rare" if i % 50 == 0 else "common"} for i in range(3_000)]
    client.upsert(name, ids=[f"v{i}" for i in range(3_000)], values=matrix, metadata=metadata)
    # At this size the planner would rather filter through the GIN index and sort; make
    # the pooled connection's planner take the HNSW index, as it does on large tables.
    with client.provider._source.pool().connection() as conn:  # type: ignore[attr-defined]
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            conn.execute(f"SET {setting} = off")
    without = client.query(
        name, vector=matrix[1], top_k=10, filter={"kind": "rare"}, iterative_scan="off"
    )
    assert len(without) < 10  # the HNSW path is in use: 40 candidates hold ~1 rare row
    result = client.query(name, vector=matrix[1], top_k=10, filter={"kind": "rare"})
    assert len(result) == 10
    assert {m.metadata["kind"] for m in result} == {"rare"}
    assert result.scores == sorted(result.scores, reverse=True)


def test_index_name_with_dash_is_quoted(url_client: ClientFactory) -> None:
    client = url_client()
    client.create_index("pt-a-b", dimension=2)
    client.upsert("pt-a-b", [{"id": "x", "values": [1.0, 0.0]}])
    assert client.query("pt-a-b", vector=[1.0, 0.0], top_k=1).ids == ["x"]
    client.delete_index("pt-a-b")
    assert "pt-a-b" not in client.list_indexes()


def test_index_name_of_63_characters_gets_a_short_table(url_client: ClientFactory) -> None:
    client = url_client()
    long_name = "pt-" + "x" * 60
    client.create_index(long_name, dimension=2)
    assert len(client.describe_index(long_name)["table"]) <= 63
    client.upsert(long_name, [{"id": "x", "values": [1.0, 0.0]}])
    assert client.fetch(long_name, ["x"])["x"].values == [1.0, 0.0]


def test_filter_values_crafted_as_sql_are_plain_data(django_client: Client, name: str) -> None:
    evil = "x'); DROP TABLE vectra_indexes; --"
    django_client.create_index(name, dimension=2)
    django_client.upsert(
        name,
        [
            {"id": evil, "values": [1.0, 0.0], "metadata": {"title": evil}},
            {"id": "plain", "values": [0.0, 1.0], "metadata": {"title": "plain"}},
        ],
    )
    by_eq = django_client.query(name, vector=[1.0, 1.0], top_k=5, filter={"title": evil})
    assert by_eq.ids == [evil]
    assert django_client.query(
        name, vector=[1.0, 1.0], top_k=5, filter={"title": {"$in": [evil, "?"]}}
    ).ids == [evil]
    django_client.delete(name, filter={"title": {"$ne": evil}})
    assert set(django_client.fetch(name, [evil, "plain"])) == {evil}
    assert name in django_client.list_indexes()


def test_filter_key_crafted_as_sql_is_rejected(django_client: Client, name: str) -> None:
    django_client.create_index(name, dimension=2)
    with pytest.raises(errors.ValidationError, match="filter key"):
        django_client.query(name, vector=[1.0, 0.0], filter={"a') OR true; --": 1})


def test_statement_timeout_maps_to_timeout_error(url_client: ClientFactory) -> None:
    client = url_client(timeout=0.05)
    with pytest.raises(errors.TimeoutError):
        client.provider.execute("SELECT pg_sleep(2)")


def test_error_inside_caller_transaction_is_not_retryable(django_client: Client) -> None:
    from django.db import transaction

    client = Client(provider="pgvector", database="default", timeout=0.05, max_retries=0)
    with transaction.atomic(), pytest.raises(errors.TimeoutError) as caught:
        client.provider.execute("SELECT pg_sleep(2)")
    assert caught.value.in_transaction is True
    assert not is_retryable(caught.value)


def test_local_settings_do_not_leak_into_caller_transaction(django_client: Client) -> None:
    from django.db import connection, transaction

    client = Client(provider="pgvector", database="default", timeout=5, max_retries=0)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        before = cursor.fetchone()
        client.provider.execute("SELECT 1")
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == before


def test_unreachable_server_error_hides_password() -> None:
    client = Client(
        provider="pgvector",
        url="postgresql://u:s3cret@127.0.0.1:1/db",
        pool_timeout=0.3,
        max_retries=0,
    )
    try:
        with pytest.raises(errors.ConnectionError) as caught:
            client.list_indexes()
        assert isinstance(caught.value, errors.PoolTimeoutError)
        assert "s3cret" not in str(caught.value) and "s3cret" not in repr(caught.value)
        assert "s3cret" not in repr(client.provider) and "s3cret" not in repr(client)
    finally:
        client.close()


def test_provider_refuses_unknown_settings() -> None:
    with pytest.raises(errors.ConfigurationError, match="colour"):
        Client(provider="pgvector", database="default", colour="blue")


def test_provider_needs_exactly_one_of_url_and_database() -> None:
    with pytest.raises(errors.ConfigurationError):
        Client(provider="pgvector")
    with pytest.raises(errors.ConfigurationError):
        Client(provider="pgvector", database="default", url="postgresql://localhost/x")


def test_create_index_refuses_unknown_options(django_client: Client, name: str) -> None:
    with pytest.raises(errors.ValidationError, match="colour"):
        django_client.create_index(name, dimension=2, colour="blue")


def test_query_refuses_unknown_options(django_client: Client, name: str) -> None:
    django_client.create_index(name, dimension=2)
    with pytest.raises(errors.ValidationError, match="colour"):
        django_client.query(name, vector=[1.0, 0.0], colour="blue")


def column_type(client: Client, name: str) -> str:
    table = client.describe_index(name)["table"]
    rows = client.provider.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attname = 'embedding'",
        [f'"{table}"'],
    )
    return rows[0][0]


def vector_index_method(client: Client, name: str) -> list[str]:
    table = client.describe_index(name)["table"]
    rows = client.provider.execute(
        "SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_am am ON am.oid = c.relam WHERE i.indrelid = to_regclass(%s) "
        "AND am.amname NOT IN ('btree', 'gin')",
        [f'"{table}"'],
    )
    return [row[0] for row in rows]


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dotproduct"])
def test_halfvec_index_stores_half_precision_and_queries(
    django_client: Client, name: str, metric: str
) -> None:
    django_client.create_index(name, dimension=3, metric=metric, halfvec=True)
    assert column_type(django_client, name) == "halfvec(3)"
    assert vector_index_method(django_client, name) == ["hnsw"]
    django_client.upsert(
        name, [{"id": "a", "values": [1.0, 0.0, 0.0]}, {"id": "b", "values": [0.0, 1.0, 0.0]}]
    )
    result = django_client.query(name, vector=[0.9, 0.1, 0.0], top_k=2, include_values=True)
    assert result.ids == ["a", "b"]
    assert result[0].values == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("index_type", ["ivfflat", "none"])
def test_index_type_creates_and_queries(django_client: Client, name: str, index_type: str) -> None:
    django_client.create_index(name, dimension=8, index_type=index_type, lists=4)
    expected = [] if index_type == "none" else [index_type]
    assert vector_index_method(django_client, name) == expected
    matrix = random_matrix(300, 8)
    django_client.upsert(name, ids=[f"v{i}" for i in range(300)], values=matrix)
    assert django_client.query(name, vector=matrix[42], top_k=3).ids[0] == "v42"
    assert len(django_client.query(name, vector=matrix[0], top_k=50)) == 50
    assert django_client.describe_index(name)["index_type"] == index_type


def test_lost_connection_is_retried_on_a_fresh_one(url_client: ClientFactory, name: str) -> None:
    client = url_client(pool_size=1, max_retries=1)
    client.create_index(name, dimension=2)
    client.upsert(name, [{"id": "x", "values": [1.0, 0.0]}])
    pid = client.provider.execute("SELECT pg_backend_pid()")[0][0]
    killer = url_client()
    killer.provider.execute("SELECT pg_terminate_backend(%s)", [pid])
    assert client.query(name, vector=[1.0, 0.0], top_k=1).ids == ["x"]
    assert client.provider.execute("SELECT pg_backend_pid()")[0][0] != pid


def test_healthy_is_false_when_unreachable() -> None:
    client = Client(provider="pgvector", url="postgresql://u@127.0.0.1:1/db", pool_timeout=0.2)
    try:
        assert client.healthy() is False
    finally:
        client.close()


# -- what jsonb cannot hold ----------------------------------------------------------------


def test_nul_in_metadata_of_the_last_chunk_writes_nothing(url_client, name) -> None:
    client = url_client(batch_size=2)
    client.create_index(name, dimension=2)
    rows = [{"id": f"v{i}", "values": [1.0, 0.0], "metadata": {"k": "\\u0000"}} for i in range(5)]
    rows.append({"id": "bad", "values": [1.0, 0.0], "metadata": {"deep": [{"k": "a\x00b"}]}})
    with pytest.raises(errors.ValidationError, match=r"'bad'.*NUL"):
        client.upsert(name, rows)
    assert client.stats(name)["total_vector_count"] == 0


def test_nul_in_a_key_is_refused_while_its_escape_as_text_is_kept(django_client, name) -> None:
    django_client.create_index(name, dimension=2)
    text = {"id": "t", "values": [1.0, 0.0], "metadata": {"k": "\\u0000"}}  # six characters
    django_client.upsert(name, [text])
    assert django_client.fetch(name, ["t"])["t"].metadata == {"k": "\\u0000"}
    with pytest.raises(errors.ValidationError, match=r"'v'.*NUL"):
        django_client.upsert(name, [{"id": "v", "values": [1.0, 0.0], "metadata": {"a\x00": 1}}])


def test_nul_in_an_update_is_refused(django_client, name) -> None:
    django_client.create_index(name, dimension=2)
    django_client.upsert(name, [{"id": "v", "values": [1.0, 0.0], "metadata": {"k": "ok"}}])
    with pytest.raises(errors.ValidationError, match="NUL"):
        django_client.update(name, "v", metadata={"k": "a\x00b"})
    assert django_client.fetch(name, ["v"])["v"].metadata == {"k": "ok"}


def test_the_pool_lends_the_connection_returned_last(url_client: ClientFactory) -> None:
    """Its backend's caches are warm; psycopg_pool on its own lends the oldest idle one."""
    client = url_client(pool_size=2)
    source = client.provider._source  # type: ignore[attr-defined]
    with source.connection() as first, source.connection() as second:
        assert first is not second  # two connections open, then both idle again
    lent = []
    for _ in range(4):
        with source.connection() as conn:
            lent.append(conn)
    assert all(conn is first for conn in lent)  # `first` went back to the pool last


def test_a_failed_pipelined_query_rolls_back_and_leaves_the_pooled_connection_usable(
    url_client: ClientFactory, name: str
) -> None:
    client = url_client(pool_size=1)
    client.create_index(name, dimension=2)
    client.upsert(name, [{"id": "x", "values": [1.0, 0.0], "metadata": {"k": "v"}}])
    table = client.describe_index(name)["table"]
    assert client.query(name, vector=[1.0, 0.0], top_k=1, filter={"k": "v"}).ids == ["x"]
    client.provider.execute(f'DROP TABLE "{table}"')  # behind the client's back
    with pytest.raises(errors.NotFoundError):
        # filtered: ef_search=200 is set, so BEGIN, the settings, the query and COMMIT go
        # out in one pipeline, and the query fails inside it
        client.query(name, vector=[1.0, 0.0], top_k=1, filter={"k": "v"})
    assert client.healthy()
    with client.provider._source.connection() as conn:  # type: ignore[attr-defined]
        assert conn.info.transaction_status.name == "IDLE"
        assert conn.execute("SELECT current_setting('hnsw.ef_search', true)").fetchone() != ("200",)


def test_a_query_failing_inside_its_pipeline_leaves_no_transaction_open(
    request: pytest.FixtureRequest,
) -> None:
    import psycopg

    from vectra_django.providers.pgvector import reads

    with psycopg.connect(url_for_test_database(request), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            reads.select(conn, {"hnsw.ef_search": "200"}, "SELECT * FROM no_such_table", [])
        assert conn.info.transaction_status.name == "IDLE"  # rolled back, not left failed
        assert conn.execute("SELECT 1").fetchone() == (1,)
