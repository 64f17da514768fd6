"""The benchmark scripts run end to end (``--quick``) and write well-formed reports.

Each script runs as a subprocess with the venv's Python against a database of its own on
the test server (so its tables never meet the suite's). Timings are not asserted: only that
every figure is there, positive, and that ratios are computed against the baselines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from vectra_django.postgres import rerank_candidates

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench_url(django_db_setup, django_db_blocker):
    """A throwaway database next to the test database, as a conninfo string."""
    from django.db import connection

    with django_db_blocker.unblock():
        params = dict(connection.get_connection_params())
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("server_side_binding", None)
    params = {k: v for k, v in params.items() if isinstance(v, str | int) and v != ""}
    name = f"vectra_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.conninfo.make_conninfo(**params)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield psycopg.conninfo.make_conninfo(admin, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def run_script(name: str, url: str, out: Path, *extra: str) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), "--quick", "--output-dir", str(out), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stem = Path(name).stem
    assert (out / f"{stem}.md").read_text().startswith("# ")
    return json.loads((out / f"{stem}.json").read_text())


def check_header(report: dict, name: str) -> None:
    assert report["benchmark"] == name
    assert report["quick"] is True
    assert report["duration_s"] > 0
    machine = report["machine"]
    assert machine["cores"] >= 1
    assert machine["cpu_model"]
    server = report["server"]
    assert server["postgresql"]
    assert server["pgvector"]
    assert server["embedded"] is False  # it used DATABASE_URL
    assert server["settings"]["shared_buffers"]


def test_batch_operations_reports_every_method_against_binary_copy(bench_url, tmp_path):
    report = run_script("batch_operations.py", bench_url, tmp_path)
    check_header(report, "batch_operations")
    assert report["baseline"] == "copy_lists"
    methods = set(report["methods"])
    assert {
        "copy_lists",
        "copy_numpy",
        "client_lists",
        "client_numpy",
        "memory",
        "bulk_create",
    } <= methods
    assert methods | set(report["skipped"]) >= {"reindex"}
    results = report["results"]
    cells = {(r["vector_count"], r["batch_size"]) for r in results}
    assert len(cells) >= 2
    for count, size in cells:
        rows = {
            r["method"]: r for r in results if (r["vector_count"], r["batch_size"]) == (count, size)
        }
        assert set(rows) == methods
        copy = rows["copy_lists"]["vectors_per_sec"]
        copy_numpy = rows["copy_numpy"]["vectors_per_sec"]
        for row in rows.values():
            assert row["batches"] == -(-count // size)
            assert row["median_s"] > 0
            assert row["vectors_per_sec"] > 0
            assert row["ratio_to_copy_lists"] == pytest.approx(
                row["vectors_per_sec"] / copy, abs=1e-3
            )
            assert row["ratio_to_copy_numpy"] == pytest.approx(
                row["vectors_per_sec"] / copy_numpy, abs=1e-3
            )
        assert rows["copy_lists"]["ratio_to_copy_lists"] == 1.0


def test_connection_pooling_reports_client_and_raw_pool(bench_url, tmp_path):
    report = run_script("connection_pooling.py", bench_url, tmp_path)
    check_header(report, "connection_pooling")
    results = report["results"]
    assert {r["mode"] for r in results} == {"client", "raw"}
    for row in results:
        assert row["operations"] == row["threads"] * report["ops_per_thread"]
        assert row["total_s"] > 0
        assert row["ops_per_sec"] > 0
        assert 0 < row["latency_ms"]["p50"] <= row["latency_ms"]["p95"]
        pool = row["pool"]
        assert pool["requests"] >= row["operations"]
        assert pool["mean_wait_ms"] >= 0
        assert 0 <= pool["min_available"] <= row["pool_size"]
        raw = next(
            r
            for r in results
            if r["mode"] == "raw"
            and (r["pool_size"], r["threads"]) == (row["pool_size"], row["threads"])
        )
        assert row["ops_ratio_to_raw"] == pytest.approx(
            row["ops_per_sec"] / raw["ops_per_sec"], abs=1e-3
        )


def test_search_reports_latency_recall_and_filtered_rows(bench_url, tmp_path):
    report = run_script("search.py", bench_url, tmp_path)
    check_header(report, "search")
    assert report["vectors"] > 0 and report["dimension"] == 384
    assert {"vector_search", "vector_search_ids", "raw_sql"} <= set(report["unfiltered"])
    assert {
        "raw_iterative_off",
        "raw_relaxed_order",
        "hnsw_iterative_off",
        "hnsw_relaxed_order",
        "vector_search_filter",
        "vector_search_filter_repeated",
        "hnsw_relaxed_ef200_repeated",
    } <= set(report["filtered"])
    for section in ("unfiltered", "filtered"):
        for mode in report[section].values():
            assert 0 < mode["latency_ms"]["p50"] <= mode["latency_ms"]["p95"]
            assert 0 <= mode["recall_at_10"] <= 1
            assert 0 <= mode["rows"]["min"] <= 10
    latency = report["targets"]["latency"]
    assert latency["overhead_ms"] == pytest.approx(
        latency["vector_search_p50_ms"] - latency["raw_sql_p50_ms"], abs=1e-3
    )
    assert isinstance(latency["met"], bool)
    assert isinstance(report["targets"]["filtered"]["met"], bool)
    assert any("Index Scan" in line for line in report["plans"]["raw_sql"])
    assert {"client_query", "raw_sql_client_shape"} <= set(report["unfiltered"])
    assert {"client_query_filter", "raw_sql_client_shape_filter"} <= set(report["filtered"])
    client = report["targets"]["client"]
    assert client["unfiltered_overhead_ms"] == pytest.approx(
        report["unfiltered"]["client_query"]["latency_ms"]["p50"]
        - report["unfiltered"]["raw_sql_client_shape"]["latency_ms"]["p50"],
        abs=1e-3,
    )
    for mode in ("vector_search", "raw_sql", "client_query", "raw_sql_client_shape"):
        for clients in ("1", "4", "16"):
            row = report["concurrency"][mode][clients]
            assert row["qps"] > 0 and 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]


def test_sync_outbox_reports_the_outbox_against_the_direct_path(bench_url, tmp_path):
    report = run_script("sync_outbox.py", bench_url, tmp_path)
    check_header(report, "sync_outbox")
    results = report["results"]
    assert set(results) == {"direct", "outbox", "no_sync"}
    for method in results.values():
        assert 0 < method["min_s"] <= method["median_s"]
        assert len(method["runs_s"]) == report["repeats"]
    ratio = results["outbox"]["median_s"] / results["direct"]["median_s"]
    assert report["targets"]["outbox_over_direct"] == pytest.approx(ratio, abs=1e-3)
    assert isinstance(report["targets"]["met"], bool)


def test_bulk_load_reports_time_to_searchable_and_each_precision(bench_url, tmp_path):
    report = run_script("bulk_load.py", bench_url, tmp_path)
    check_header(report, "bulk_load")
    searchable = report["searchable"]
    assert set(searchable) == {"raw", "client_upsert", "client_upsert_live", "reindex_clear"}
    raw = searchable["raw"]["seconds"]
    for method in searchable.values():
        assert method["seconds"] > 0
        assert method["vs_raw"] == pytest.approx(raw / method["seconds"])
    assert searchable["raw"]["build"]["maintenance_work_mem"].endswith("MB")
    assert 0 < searchable["reindex_clear"]["peak_rss_mb"] < 1000
    precisions = report["precisions"]
    assert set(precisions) == {"vector", "halfvec", "binary"}
    sizes = [precisions[v]["index_mb"] for v in ("vector", "halfvec", "binary")]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] > 0
    for result in precisions.values():
        assert 0 <= result["recall_at_10"] <= 1
        for threads in ("1", "4", "16"):
            run = result["concurrency"][threads]
            assert 0 < run["p50_ms"] <= run["p95_ms"] <= run["p99_ms"] and run["qps"] > 0
    sweep = precisions["binary"]["recall_by_candidates"]
    default = sweep[str(rerank_candidates(10))]  # the sweep runs the default's count too
    assert sweep["2000"] >= default == pytest.approx(precisions["binary"]["recall_at_10"])


def test_hybrid_reports_quality_latency_and_the_keyword_plan(bench_url, tmp_path):
    report = run_script("hybrid.py", bench_url, tmp_path)
    check_header(report, "hybrid")
    assert 0 < report["rows"] <= 20_000
    assert report["quality_embedder"] and report["speed_embedder"]
    quality = report["quality"]
    assert quality["queries"] >= 50
    assert {"text_search", "vector_search", "hybrid", "hybrid_k10"} <= set(quality["modes"])
    for mode in quality["modes"].values():
        assert 0 <= mode["top_1"] <= mode["mrr_at_10"] <= mode["recall_at_10"] <= 1
        assert 0 <= mode["empty_fraction"] <= 1
    assert quality["keyword_empty_fraction"] == quality["modes"]["text_search"]["empty_fraction"]
    empty = quality["keyword_empty"]
    assert empty["count"] == round(quality["keyword_empty_fraction"] * quality["queries"])
    assert 0 <= empty["with_negation"] <= empty["count"]
    assert report["statements"]["search"] == 1
    for label in ("sentence", "two_words"):
        section = report["speed"][label]
        modes = section["modes"]
        assert set(modes) == {
            f"{name}{suffix}"
            for name in ("vector_search", "hybrid_search", "text_search")
            for suffix in ("", "_sql")
        }
        for mode in modes.values():
            assert 0 < mode["p50_ms"] <= mode["p95_ms"] and mode["qps"] > 0
        assert modes["vector_search"]["rows_mean"] == modes["hybrid_search"]["rows_mean"] == 10
        target = report["targets"]["latency"][label]
        ratio = modes["hybrid_search"]["p50_ms"] / modes["vector_search"]["p50_ms"]
        assert target["ratio"] == pytest.approx(ratio, abs=1e-3)
        assert isinstance(target["met"], bool)
        assert section["compile_ms"]["hybrid_search"] > 0
        matches = section["matching_rows"]
        assert 0 <= matches["p50"] <= matches["p95"] <= matches["max"] <= report["rows"]
    assert isinstance(report["targets"]["quality"]["met"], bool)
    plans = report["plans"]
    assert {"text_search_sentence", "text_search_two_words", "hybrid_search_two_words"} == set(
        plans
    )
    for plan in plans.values():
        assert plan["plan"] and isinstance(plan["uses_gin"], bool)
        assert plan["ok"] == (plan["uses_gin"] and not plan["to_tsvector_per_row"])


def test_the_reindex_target_counts_runs_with_batches_to_overlap(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import batch_operations

    def row(method, count, size, ratio):
        return {
            "method": method,
            "vector_count": count,
            "batch_size": size,
            "batches": -(-count // size),
            "ratio_to_copy_numpy": ratio,
            "ratio_to_copy_lists": ratio,
        }

    results = [
        row("reindex", 1_000, 1_000, 0.5),  # one batch: nothing to overlap
        row("reindex", 10_000, 5_000, 0.6),
        row("reindex", 5_000, 1_000, 0.82),
        row("reindex", 10_000, 1_000, 0.9),
        row("reindex", 10_000, 500, 0.1),  # below the batch sizes the target covers
        row("client_numpy", 1_000, 1_000, 0.85),
    ]
    targets = batch_operations.targets(results)
    reindex = targets["reindex"]
    assert [reindex[k] for k in ("min_ratio", "median_ratio", "max_ratio")] == [0.82, 0.86, 0.9]
    assert reindex["met"] and reindex["fewer_batches_median_ratio"] == 0.55
    assert "5 batches" in reindex["where"]
    assert targets["client_numpy"]["median_ratio"] == 0.85
    assert "fewer_batches_median_ratio" not in targets["client_numpy"]
