"""Bulk loads on pgvector: one transaction, with the vector index built after the rows.

Runs through the provider's own pool (``URL``) on the test database, so each load commits
and other sessions (a watcher, a killer) see what a user's would.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import psycopg
import pytest

from tests import pg_helpers
from tests.contract.pgvector_providers import url_for_test_database
from vectra_django import Client, errors
from vectra_django.postgres import builds

ClientFactory = Callable[..., Client]


@pytest.fixture
def url(request: pytest.FixtureRequest) -> str:
    return url_for_test_database(request)


@pytest.fixture
def name() -> str:
    return f"bl-{uuid.uuid4().hex[:10]}"


def matrix(rows: int, dimension: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, dimension)).astype(np.float32)


def vectors(start: int, rows: int, seed: int = 0, dimension: int = 16) -> dict[str, Any]:
    return {
        "ids": [f"v{i}" for i in range(start, start + rows)],
        "values": matrix(rows, dimension, seed),
        "metadata": [{"n": i} for i in range(start, start + rows)],
    }


def indexes(url: str, client: Client, index: str) -> dict[str, tuple[int, str]]:
    """The table's secondary indexes: name -> (oid, access method)."""
    table = client.describe_index(index)["table"]
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname, c.oid, a.amname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary",
            [table],
        ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def hnsw_index(indexes: dict[str, tuple[int, str]]) -> str:
    (name,) = [name for name, (_, method) in indexes.items() if method == "hnsw"]
    return name


def plan(url: str, client: Client, index: str) -> str:
    return pg_helpers.explain_query(url, client, index, np.full(16, 0.5), top_k=5)


def test_a_large_upsert_into_a_new_index_builds_the_index_after_the_rows(
    url_client: ClientFactory, name: str, url: str
) -> None:
    client = url_client()
    client.create_index(name, dimension=16)
    before = indexes(url, client, name)
    # Metadata, text and vectors.
    assert sorted(am for _, am in before.values()) == ["gin", "gin", "hnsw"]
    client.upsert(name, **vectors(0, 2000))
    after = indexes(url, client, name)
    assert set(after) == set(before)  # the same names: rebuilt from their own definitions
    assert all(after[n][0] != before[n][0] for n in before)  # new relations: built afresh
    # Analyzed in the load: without statistics the planner takes the namespace condition for
    # a selective one and sorts the rows it matches instead.
    assert f'Index Scan using "{hnsw_index(after)}"' in plan(url, client, name)
    hit = client.query(name, vector=matrix(2000)[7], top_k=1)
    assert hit.ids == ["v7"]
    assert client.stats(name)["total_vector_count"] == 2000


def test_a_small_upsert_into_a_large_index_inserts_into_the_live_index(
    url_client: ClientFactory, name: str, url: str
) -> None:
    client = url_client()
    client.create_index(name, dimension=16)
    client.upsert(name, **vectors(0, 2000))
    before = indexes(url, client, name)
    client.upsert(name, **vectors(2000, 1500, seed=1))  # 1,500 rows into 2,000: too few
    assert indexes(url, client, name) == before
    assert client.stats(name)["total_vector_count"] == 3500


def test_loads_below_min_rows_or_with_defer_off_keep_the_index(
    url_client: ClientFactory, name: str, url: str
) -> None:
    client = url_client(build={"MIN_ROWS": 5000})
    client.create_index(name, dimension=16)
    before = indexes(url, client, name)
    client.upsert(name, **vectors(0, 2000))
    assert indexes(url, client, name) == before
    other = url_client(build={"DEFER": False})
    other.upsert(name, **vectors(2000, 5000))
    assert indexes(url, client, name) == before


def test_a_bad_batch_in_a_stream_leaves_the_index_as_it_was(
    url_client: ClientFactory, name: str, url: str
) -> None:
    client = url_client()
    client.create_index(name, dimension=16)
    client.upsert(name, **vectors(0, 100))
    before = indexes(url, client, name)
    bad = vectors(5000, 10)
    bad["values"] = matrix(10, 8)  # the wrong dimension, found when the batch is read
    with pytest.raises(errors.ValidationError, match="dimension"):
        client.bulk_load(name, [vectors(100, 3000), bad], rows=3010)
    assert indexes(url, client, name) == before
    assert client.stats(name)["total_vector_count"] == 100


def test_a_backend_killed_in_the_middle_of_a_deferred_load_leaves_table_and_index_consistent(
    url_client: ClientFactory, name: str, url: str
) -> None:
    client = url_client()
    client.create_index(name, dimension=16)
    client.upsert(name, **vectors(0, 100))
    before = indexes(url, client, name)
    table = client.describe_index(name)["table"]

    def stream() -> Iterator[dict[str, Any]]:
        yield vectors(100, 2000)
        with psycopg.connect(url, autocommit=True) as admin:  # the loader holds the lock
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = "
                "%s::regclass AND mode = 'AccessExclusiveLock' AND granted",
                [table],
            ).fetchall()
        assert killed == [(True,)]
        yield vectors(2100, 2000, seed=1)

    with pytest.raises(errors.ConnectionError):
        client.bulk_load(name, stream(), rows=4000)
    assert indexes(url, client, name) == before
    assert client.stats(name)["total_vector_count"] == 100
    with psycopg.connect(url, autocommit=True) as conn:  # the load's statistics rolled back
        conn.execute(f'ANALYZE "{table}"')
    assert f'Index Scan using "{hnsw_index(before)}"' in plan(url, client, name)
    assert client.query(name, vector=matrix(100)[42], top_k=1).ids == ["v42"]


def test_replace_swaps_the_namespace_in_one_transaction(
    url_client: ClientFactory, name: str, url: str
) -> None:
    client = url_client()
    client.create_index(name, dimension=16)
    client.upsert(name, **vectors(0, 50), namespace="a")
    client.upsert(name, **vectors(0, 30), namespace="b")
    client.bulk_load(name, [vectors(1000, 1200, seed=2)], namespace="a", rows=1200, replace=True)
    stats = client.stats(name)
    assert stats["namespaces"] == {"a": {"vector_count": 1200}, "b": {"vector_count": 30}}
    assert client.fetch(name, ["v0"], namespace="a") == {}
    assert "v0" in client.fetch(name, ["v0"], namespace="b")


def test_replace_of_the_only_namespace_leaves_no_dead_rows(
    url_client: ClientFactory, name: str, url: str
) -> None:
    client = url_client()
    client.create_index(name, dimension=16)
    client.upsert(name, **vectors(0, 500))
    client.bulk_load(name, [vectors(0, 1500, seed=3)], rows=1500, replace=True)
    table = client.describe_index(name)["table"]
    with psycopg.connect(url) as conn:
        conn.execute(f'ANALYZE "{table}"')
        dead = conn.execute(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = %s::regclass", [table]
        ).fetchone()
    assert dead == (0,)  # TRUNCATE, not DELETE
    assert client.stats(name)["total_vector_count"] == 1500


def test_the_build_reports_its_progress(
    url_client: ClientFactory, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builds, "POLL_SECONDS", 0.005)
    client = url_client()
    client.create_index(name, dimension=64, m=32, ef_construction=400)
    seen: list[dict[str, Any]] = []
    client.bulk_load(name, [vectors(0, 4000, dimension=64)], rows=4000, on_progress=seen.append)
    assert seen, "no progress row was read during the build"
    assert {"phase", "tuples_done", "tuples_total", "blocks_done", "blocks_total"} <= set(seen[0])
    assert all(isinstance(row["phase"], str) for row in seen)


def test_bulk_load_on_other_stores_writes_batch_by_batch() -> None:
    client = Client(provider="memory")
    client.create_index("m", dimension=16)
    client.upsert("m", **vectors(0, 5))
    result = client.bulk_load("m", [vectors(10, 3), vectors(20, 4)], replace=True)
    assert result == {"upserted_count": 7}
    assert client.stats("m")["total_vector_count"] == 7


def test_bulk_load_rejects_bad_arguments() -> None:
    client = Client(provider="memory")
    client.create_index("m", dimension=16)
    with pytest.raises(errors.ValidationError, match="rows must be"):
        client.bulk_load("m", [], rows=-1)
    with pytest.raises(errors.ValidationError, match="mapping with ids"):
        client.bulk_load("m", [{"vectors": []}])
    assert client.stats("m")["total_vector_count"] == 0


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"MIN_ROWS": -1}, "MIN_ROWS must be"),
        ({"PARALLEL_WORKERS": "4"}, "PARALLEL_WORKERS must be"),
        ({"DEFER": "yes"}, "DEFER must be"),
        ({"MAINTENANCE_WORK_MEM": 1.5}, "MAINTENANCE_WORK_MEM must be"),
        ({"WORKERS": 4}, "Unknown BUILD settings"),
    ],
)
def test_bad_build_settings_are_configuration_errors(setting: dict, message: str, url: str) -> None:
    with pytest.raises(errors.ConfigurationError, match=message):
        Client(provider="pgvector", url=url, build=setting)


def test_the_build_gets_memory_for_its_graph_and_never_less_than_the_session(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TEMP TABLE big (v vector(256))")
        conn.execute(
            "INSERT INTO big SELECT array_fill(1, ARRAY[256])::vector "
            "FROM generate_series(1, 20000)"
        )
        estimated = builds.build_config(conn, "big", builds.BuildSettings())
        conn.execute("SET maintenance_work_mem = '3GB'")
        floor = builds.build_config(conn, "big", builds.BuildSettings())
        fixed = builds.build_config(
            conn, "big", builds.BuildSettings(maintenance_work_mem="700MB", parallel_workers=1)
        )
    size_mb = int(estimated["maintenance_work_mem"].removesuffix("MB"))
    assert 64 + 20000 * 256 * 4 * 1.5 / 2**20 <= size_mb < 200
    assert floor["maintenance_work_mem"] == "3072MB"
    assert fixed == {"maintenance_work_mem": "700MB", "max_parallel_maintenance_workers": "1"}


@pytest.mark.parametrize("exclusive", [True, False])
def test_an_exclusive_load_keeps_other_writers_out_until_it_commits(
    url_client: ClientFactory, name: str, url: str, exclusive: bool
) -> None:
    client = url_client(build={"DEFER": False})
    client.create_index(name, dimension=16)
    table = client.describe_index(name)["table"]
    outcome: list[str] = []

    def stream() -> Iterator[dict[str, Any]]:
        yield vectors(0, 100)
        with psycopg.connect(url, autocommit=True) as other:
            other.execute("SET lock_timeout = '200ms'")
            try:
                other.execute(
                    f'INSERT INTO "{table}" (id, embedding) VALUES (%s, %s::vector)',
                    ["outsider", "[" + ",".join(["1"] * 16) + "]"],
                )
                outcome.append("written")
            except psycopg.errors.LockNotAvailable:
                outcome.append("waited")
        yield vectors(100, 100)

    client.bulk_load(name, stream(), rows=200, exclusive=exclusive)
    assert outcome == (["waited"] if exclusive else ["written"])
