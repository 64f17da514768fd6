"""Connection pooling: the pgvector client in URL mode (its own ``psycopg_pool`` pool) under
1-20 threads doing mixed upserts and queries, for pool sizes 5, 10 and 20; with, in the same
run, the same operations as raw SQL on a bare ``psycopg_pool.ConnectionPool`` of the same size.

Each operation: every fourth an upsert of 10 vectors (existing ids: real upserts), the rest
top-10 queries on an HNSW index. Reported: total time, operations/second, latency p50/p95,
and pool availability from ``pool.get_stats()`` (time spent waiting for a connection, how
many requests queued) plus the fewest idle connections seen while it ran.

    python benchmarks/connection_pooling.py [--quick]
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import common
import numpy as np
import psycopg_pool
from common import say
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb

POOL_SIZES = [5, 10, 20]
THREADS = [1, 2, 5, 10, 20]
INDEX = "bench_pool"
UPSERT_EVERY = 4
UPSERT_SIZE = 10
TOP_K = 10


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--ops-per-thread", type=int, default=None)
    args = p.parse_args()
    started = time.perf_counter()
    if args.quick:
        vectors, ops, pool_sizes, threads = 300, args.ops_per_thread or 4, [2, 5], [1, 4]
        warmup = 4
    else:
        vectors, ops, pool_sizes, threads = 10_000, args.ops_per_thread or 100, POOL_SIZES, THREADS
        warmup = 50

    server = common.locate_server(args)
    common.prepare_database(server)
    report = common.header("connection_pooling", args, server)
    workload = Workload(server, vectors)
    results = []
    try:
        # Untimed: the table, the index and both code paths warm before the first measurement.
        for runner in (ClientRunner(server, 5), RawRunner(server, 5, workload.table)):
            _drive(runner, workload, 5, warmup, seed=99, latencies=None)
            runner.close()
        for n, pool_size in enumerate(pool_sizes):
            # Which mode goes first alternates, so neither always meets a colder server.
            for mode in ("client", "raw") if n % 2 == 0 else ("raw", "client"):
                runner = (
                    ClientRunner(server, pool_size)
                    if mode == "client"
                    else RawRunner(server, pool_size, workload.table)
                )
                try:
                    for count in threads:
                        row = run(runner, workload, count, ops)
                        row.update({"mode": mode, "pool_size": pool_size})
                        results.append(row)
                        say(
                            f"pool {pool_size:>2} {mode:<6} {count:>2} threads: "
                            f"{row['total_s']:.2f}s  {row['ops_per_sec']:,.0f} ops/s  "
                            f"p50 {row['latency_ms']['p50']:.2f} ms  "
                            f"p95 {row['latency_ms']['p95']:.2f} ms  "
                            f"wait {row['pool']['mean_wait_ms']:.2f} ms  "
                            f"idle min {row['pool']['min_available']}/{pool_size}"
                        )
                finally:
                    runner.close()
    finally:
        workload.close()

    for row in results:
        raw = next(
            r
            for r in results
            if r["mode"] == "raw"
            and r["pool_size"] == row["pool_size"]
            and r["threads"] == row["threads"]
        )
        row["ops_ratio_to_raw"] = round(row["ops_per_sec"] / raw["ops_per_sec"], 3)
    report.update(
        {
            "dimension": common.DIMENSION,
            "index_vectors": vectors,
            "ops_per_thread": ops,
            "mix": f"1 upsert of {UPSERT_SIZE} vectors per {UPSERT_EVERY} operations, "
            f"the rest top-{TOP_K} queries (HNSW, cosine); autovacuum off on the table",
            "modes": {
                "client": "Client(provider='pgvector', url=..., pool_size=N): upsert / query",
                "raw": "psycopg_pool.ConnectionPool(min_size=1, max_size=N): the same SQL by "
                "hand (executemany INSERT .. ON CONFLICT; SET LOCAL hnsw.ef_search + SELECT)",
            },
            "results": results,
        }
    )
    common.finish(report, started)
    out = args.output_dir
    common.write_json(out / "connection_pooling.json", report)
    common.write_markdown(out / "connection_pooling.md", markdown(report))
    plot(report, out / "connection_pooling.png")
    say(f"wrote {out / 'connection_pooling.json'} and .md ({report['duration_s']} s)")


class Workload:
    """The index (loaded untimed through the client) and a seeded supply of inputs."""

    def __init__(self, server: common.Server, vectors: int) -> None:
        from vectra_django import Client

        self.vectors = vectors
        rng = np.random.default_rng(7)
        self.data = rng.standard_normal((vectors, common.DIMENSION), dtype=np.float32)
        client = Client(provider="pgvector", url=server.url)
        if client.index_exists(INDEX):
            client.delete_index(INDEX)
        client.create_index(INDEX, dimension=common.DIMENSION, metric="cosine")
        client.upsert(
            INDEX,
            ids=[f"v{i}" for i in range(vectors)],
            values=self.data,
            metadata=[{"n": i} for i in range(vectors)],
        )
        self.table = client.describe_index(INDEX)["table"]
        with server.connect(autocommit=True) as conn:
            conn.execute(f'VACUUM ANALYZE "{self.table}"')
            # The upserts leave dead rows; an autovacuum of the HNSW index halfway through
            # would take a core from whichever configuration happens to be running.
            conn.execute(f'ALTER TABLE "{self.table}" SET (autovacuum_enabled = false)')
        client.close()

    def op(self, rng: np.random.Generator, i: int) -> tuple[str, Any]:
        if i % UPSERT_EVERY == 0:
            # Distinct ids, in one global order: concurrent upserts then never deadlock.
            picks = np.array(
                sorted(rng.choice(self.vectors, UPSERT_SIZE, replace=False), key=lambda p: f"v{p}")
            )
            ids = [f"v{p}" for p in picks]
            values = self.data[picks] + rng.standard_normal(
                (UPSERT_SIZE, common.DIMENSION), dtype=np.float32
            ) * np.float32(0.01)
            return "upsert", (ids, values, [{"n": int(p)} for p in picks])
        return "query", rng.standard_normal(common.DIMENSION, dtype=np.float32)

    def close(self) -> None:
        pass


class ClientRunner:
    def __init__(self, server: common.Server, pool_size: int) -> None:
        from vectra_django import Client

        self.client = Client(
            provider="pgvector", url=server.url, pool_size=pool_size, pool_timeout=60
        )
        self.client.describe_index(INDEX)  # open the pool, cache the table

    @property
    def pool(self) -> psycopg_pool.ConnectionPool:
        return provider_pool(self.client.provider)

    def upsert(self, payload: Any) -> None:
        ids, values, metadata = payload
        self.client.upsert(INDEX, ids=ids, values=values, metadata=metadata)

    def query(self, vector: np.ndarray) -> None:
        self.client.query(INDEX, vector, top_k=TOP_K)

    def close(self) -> None:
        self.client.close()


def provider_pool(provider: Any) -> psycopg_pool.ConnectionPool:
    """The provider's own pool. Private: its statistics have no public door yet."""
    source = getattr(provider, "_source", None)
    for owner, name in ((source, "pool"), (provider, "_pool")):
        get = getattr(owner, name, None)
        if callable(get):
            pool = get()
            if isinstance(pool, psycopg_pool.ConnectionPool):
                return pool
    raise RuntimeError("cannot find the pgvector provider's connection pool")


class RawRunner:
    def __init__(self, server: common.Server, pool_size: int, table: str) -> None:
        self.pool = psycopg_pool.ConnectionPool(
            server.url,
            min_size=1,
            max_size=pool_size,
            timeout=60,
            kwargs={"autocommit": True},
            configure=register_vector,
            check=psycopg_pool.ConnectionPool.check_connection,
            open=True,
        )
        self.pool.wait()
        self.insert = (
            f'INSERT INTO "{table}" (namespace, id, embedding, metadata) VALUES (%s, %s, %s, %s) '
            "ON CONFLICT (namespace, id) DO UPDATE SET embedding = EXCLUDED.embedding, "
            "metadata = EXCLUDED.metadata"
        )
        self.select = (
            f'SELECT id, embedding <=> %s AS distance, metadata FROM "{table}" '
            "WHERE namespace = %s ORDER BY embedding <=> %s LIMIT %s"
        )

    def upsert(self, payload: Any) -> None:
        ids, values, metadata = payload
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                self.insert,
                [
                    ("", vid, row, Jsonb(meta))
                    for vid, row, meta in zip(ids, values, metadata, strict=True)
                ],
            )

    def query(self, vector: np.ndarray) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "SELECT set_config('hnsw.ef_search', '40', true), "
                "set_config('plan_cache_mode', 'force_custom_plan', true)"
            )
            conn.execute(self.select, [vector, "", vector, TOP_K]).fetchall()

    def close(self) -> None:
        self.pool.close()


# A fresh seed per run: upserting the very values an earlier run wrote is much cheaper
# (pgvector's HNSW insert finds the duplicate element), which would favour later runs.
SEEDS = itertools.count(1)


def run(runner: Any, workload: Workload, threads: int, ops: int) -> dict[str, Any]:
    """``threads`` threads doing ``ops`` operations each, released together."""
    # Warm up: let the pool grow to what this many threads ask of it, then reset the stats.
    _drive(runner, workload, threads, 2, seed=next(SEEDS), latencies=None)
    runner.pool.pop_stats()
    latencies: list[list[float]] = [[] for _ in range(threads)]
    monitor = Monitor(runner.pool)
    monitor.start()
    start = time.perf_counter()
    _drive(runner, workload, threads, ops, seed=next(SEEDS), latencies=latencies)
    total = time.perf_counter() - start
    monitor.stop()
    stats = runner.pool.pop_stats()
    flat = [x for per in latencies for x in per]
    requests = max(1, stats.get("requests_num", 0))
    return {
        "threads": threads,
        "operations": threads * ops,
        "total_s": round(total, 4),
        "ops_per_sec": round(threads * ops / total, 1),
        "latency_ms": {
            "p50": round(common.percentile(flat, 50) * 1000, 3),
            "p95": round(common.percentile(flat, 95) * 1000, 3),
            "max": round(max(flat) * 1000, 3),
        },
        "pool": {
            "requests": stats.get("requests_num", 0),
            "requests_queued": stats.get("requests_queued", 0),
            "mean_wait_ms": round(stats.get("requests_wait_ms", 0) / requests, 3),
            "requests_errors": stats.get("requests_errors", 0),
            "connections_opened": stats.get("connections_num", 0),
            "min_available": monitor.min_available,
            "max_waiting": monitor.max_waiting,
            "size_at_end": runner.pool.get_stats().get("pool_size"),
        },
    }


def _drive(
    runner: Any,
    workload: Workload,
    threads: int,
    ops: int,
    *,
    seed: int,
    latencies: list[list[float]] | None,
) -> None:
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        rng = np.random.default_rng([seed, n])
        plan = [workload.op(rng, i + n) for i in range(ops)]
        calls: dict[str, Callable[[Any], None]] = {
            "upsert": runner.upsert,
            "query": runner.query,
        }
        barrier.wait()
        try:
            for kind, payload in plan:
                t0 = time.perf_counter()
                calls[kind](payload)
                if latencies is not None:
                    latencies[n].append(time.perf_counter() - t0)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]


class Monitor(threading.Thread):
    """Samples the pool every 2 ms: fewest idle connections, most waiting requests."""

    def __init__(self, pool: psycopg_pool.ConnectionPool) -> None:
        super().__init__(daemon=True)
        self.pool = pool
        self.min_available: int | None = None
        self.max_waiting = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            stats = self.pool.get_stats()
            available = stats.get("pool_available", 0)
            if self.min_available is None or available < self.min_available:
                self.min_available = available
            self.max_waiting = max(self.max_waiting, stats.get("requests_waiting", 0))
            time.sleep(0.002)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Connection pooling",
        "",
        f"{report['ops_per_thread']} operations per thread; {report['mix']}, on an index of "
        f"{report['index_vectors']:,} vectors of {report['dimension']} dimensions. `client` "
        "is the pgvector client in URL mode; `raw` the same SQL on a bare psycopg pool of the "
        "same size, measured in the same run. *Wait* is the mean time a request waited for a "
        "connection (`requests_wait_ms / requests_num` of `pool.get_stats()`); *idle min* the "
        "fewest idle connections seen while it ran (sampled every 2 ms) of the connections "
        "open at the end (the pools start at one connection and grow on demand up to the "
        "pool size; a warm-up of two operations per thread runs first, untimed).",
        "",
        common.md_machine(report),
    ]
    for size in sorted({r["pool_size"] for r in report["results"]}):
        rows = [r for r in report["results"] if r["pool_size"] == size]
        lines += ["", f"## Pool size {size}", ""]
        table = []
        for threads in sorted({r["threads"] for r in rows}):
            pair = {r["mode"]: r for r in rows if r["threads"] == threads}
            c, raw = pair["client"], pair["raw"]
            table.append(
                [
                    threads,
                    f"{c['total_s']:.2f}",
                    f"{c['ops_per_sec']:,.0f}",
                    f"{raw['ops_per_sec']:,.0f}",
                    f"{c['ops_ratio_to_raw']:.2f}",
                    f"{c['latency_ms']['p50']:.2f} / {c['latency_ms']['p95']:.2f}",
                    f"{raw['latency_ms']['p50']:.2f} / {raw['latency_ms']['p95']:.2f}",
                    f"{c['pool']['mean_wait_ms']:.2f}",
                    f"{c['pool']['requests_queued']}/{c['pool']['requests']}",
                    f"{c['pool']['min_available']} of {c['pool']['size_at_end']} (max {size})",
                ]
            )
        lines.append(
            common.md_table(
                [
                    "threads",
                    "client total s",
                    "client ops/s",
                    "raw ops/s",
                    "client / raw",
                    "client p50 / p95 ms",
                    "raw p50 / p95 ms",
                    "client wait ms",
                    "client queued",
                    "client idle min of open",
                ],
                table,
            )
        )
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Any) -> None:
    plt = common.pyplot()
    if plt is None:
        return
    results = report["results"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for threads in sorted({r["threads"] for r in results}):
        for mode, style in (("client", "-"), ("raw", ":")):
            rows = sorted(
                (r for r in results if r["threads"] == threads and r["mode"] == mode),
                key=lambda r: r["pool_size"],
            )
            sizes = [r["pool_size"] for r in rows]
            label = f"{threads} threads ({mode})"
            axes[0].plot(
                sizes, [r["latency_ms"]["p50"] for r in rows], style, marker="o", label=label
            )
            axes[1].plot(sizes, [r["ops_per_sec"] for r in rows], style, marker="o", label=label)
    axes[0].set_ylabel("latency p50 (ms)")
    axes[1].set_ylabel("operations / second")
    for ax in axes:
        ax.set_xlabel("pool size")
        ax.set_xticks(sorted({r["pool_size"] for r in results}))
        ax.grid(True, alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].legend(fontsize=7, ncol=2)
    fig.suptitle("Mixed upserts and queries: latency and throughput against pool size")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    say(f"wrote {path}")


if __name__ == "__main__":
    main()
