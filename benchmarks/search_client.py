"""The client's side of ``search.py``: ``client.query`` on its own index table, the same SQL
by hand, and QPS and latency percentiles under 1, 4 and 16 concurrent clients."""

from __future__ import annotations

import threading
import time
from typing import Any

import common
import numpy as np
from common import say
from pgvector.psycopg import register_vector

TOP_K = 10
CLIENT_INDEX = "bench-search"
SESSION_OPTIONS = "-c hnsw.iterative_scan=relaxed_order"
THREADS = (1, 4, 16)


def client_index(server: common.Server, data: Any, *, quick: bool) -> tuple[Any, ClientRaw]:
    """A pgvector client on its own pool, with the benchmark's vectors in its index table.

    Loaded by the client's binary COPY into a table without an ANN index, then the HNSW
    index is built once (pgvector's advice for bulk loads) and the registry told so. Kept
    for the next run when it holds as many vectors.
    """
    from vectra_django import Client

    client = Client(provider="pgvector", url=server.url, pool_size=20)
    n = len(data.vectors)
    if client.index_exists(CLIENT_INDEX) and client.stats(CLIENT_INDEX)["vector_count"] == n:
        say(f"client index: reusing {n:,} vectors")
    else:
        if client.index_exists(CLIENT_INDEX):
            client.delete_index(CLIENT_INDEX)
        started = time.perf_counter()
        client.create_index(CLIENT_INDEX, dimension=data.vectors.shape[1], index_type="none")
        metadata = [{"category": int(c)} for c in data.categories]
        client.upsert(
            CLIENT_INDEX, ids=[str(i + 1) for i in range(n)], values=data.vectors, metadata=metadata
        )
        table = client.describe_index(CLIENT_INDEX)["table"]
        with server.connect(autocommit=True) as admin:
            admin.execute("SET maintenance_work_mem = '1GB'")
            admin.execute(
                f'CREATE INDEX ON "{table}" USING hnsw (embedding vector_cosine_ops) '
                "WITH (m = 16, ef_construction = 64)"
            )
            admin.execute(
                "UPDATE vectra_indexes SET index_type = 'hnsw' WHERE name = %s", [CLIENT_INDEX]
            )
            admin.execute(f'ANALYZE "{table}"')
        client.close()
        client = Client(provider="pgvector", url=server.url, pool_size=20)
        took = time.perf_counter() - started
        say(f"client index: {n:,} vectors loaded and indexed in {took:.1f} s")
    table = client.describe_index(CLIENT_INDEX)["table"]
    conn = server.connect(autocommit=True, options=SESSION_OPTIONS)
    register_vector(conn)
    return client, ClientRaw(conn, table)


def client_search(client: Any, q: np.ndarray, category: int | None = None) -> list[int]:
    flt = None if category is None else {"category": category}
    return [int(i) for i in client.query(CLIENT_INDEX, q, top_k=TOP_K, filter=flt).ids]


class ClientRaw:
    """The client's query by hand: same columns, filter, ordering, limit and settings."""

    def __init__(self, conn: Any, table: str) -> None:
        self.conn = conn
        self.table = table

    def sql(self, filtered: bool) -> str:
        where = "namespace = ''" + (" AND metadata @> %s::jsonb" if filtered else "")
        return (
            f'SELECT id, embedding <=> %s AS distance, metadata FROM "{self.table}" '
            f"WHERE {where} ORDER BY embedding <=> %s LIMIT {TOP_K}"
        )

    def search(self, q: np.ndarray, category: int | None = None) -> list[int]:
        if category is None:
            rows = self.conn.execute(self.sql(False), [q, q], prepare=False).fetchall()
        else:
            params = [q, f'{{"category": {category}}}', q]
            with self.conn.pipeline():
                self.conn.execute("BEGIN")
                self.conn.execute("SELECT set_config('hnsw.ef_search', '200', true)")
                cur = self.conn.cursor()
                cur.execute(self.sql(True), params, prepare=False)
                self.conn.execute("COMMIT")
            rows = cur.fetchall()
        rows.sort(key=lambda r: r[1])
        return [int(r[0]) for r in rows]


def client_targets(unfiltered: dict[str, Any], filtered: dict[str, Any]) -> dict[str, Any]:
    """client.query p50 within 0.3 ms of the same SQL by hand, unfiltered and at 1 %."""
    out: dict[str, Any] = {"target": "client_query p50 <= raw SQL of its shape p50 + 0.3 ms"}
    for label, section, mode, raw in (
        ("unfiltered", unfiltered, "client_query", "raw_sql_client_shape"),
        ("filtered", filtered, "client_query_filter", "raw_sql_client_shape_filter"),
    ):
        overhead = section[mode]["latency_ms"]["p50"] - section[raw]["latency_ms"]["p50"]
        out[f"{label}_overhead_ms"] = round(overhead, 3)
        out[f"{label}_met"] = overhead <= 0.3
    return out


def run_concurrency(
    server: common.Server,
    model: Any,
    client: Any,
    table: str,
    client_table: str,
    data: Any,
    *,
    quick: bool,
) -> dict[str, Any]:
    """Each mode with 1, 4 and 16 threads issuing queries back to back: QPS and latency."""
    per_thread = 10 if quick else 60
    queries = data.queries
    modes = {
        "vector_search": lambda conn, q: [
            d.pk for d in model.objects.vector_search(q, limit=TOP_K)
        ],
        "raw_sql": lambda conn, q: conn.execute(
            f"SELECT id FROM {table} WHERE embedding IS NOT NULL "
            f"ORDER BY embedding <=> %s LIMIT {TOP_K}",
            [q],
            prepare=False,
        ).fetchall(),
        "client_query": lambda conn, q: client_search(client, q),
        "raw_sql_client_shape": lambda conn, q: ClientRaw(conn, client_table).search(q),
    }
    results: dict[str, Any] = {}
    for name, fn in modes.items():
        results[name] = {}
        for threads in THREADS:
            row = measure(server, fn, threads, per_thread, queries)
            results[name][str(threads)] = row
            say(
                f"  {name:<22} {threads:>2} clients: {row['qps']:8.1f} QPS  "
                f"p50 {row['p50_ms']:.2f}  p95 {row['p95_ms']:.2f}  p99 {row['p99_ms']:.2f} ms"
            )
    return results


def measure(
    server: common.Server, fn: Any, threads: int, per_thread: int, queries: Any
) -> dict[str, float]:
    """``threads`` threads, each with its own connections, running ``fn`` back to back."""
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(offset: int) -> None:
        from django.db import connections

        conn = server.connect(autocommit=True, options=SESSION_OPTIONS)
        register_vector(conn)
        mine = []
        try:
            barrier.wait()
            for i in range(per_thread):
                q = queries[(offset * per_thread + i) % len(queries)]
                start = time.perf_counter()
                fn(conn, q)
                mine.append((time.perf_counter() - start) * 1000)
        finally:
            conn.close()
            connections.close_all()
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "qps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(common.percentile(latencies, 50), 3),
        "p95_ms": round(common.percentile(latencies, 95), 3),
        "p99_ms": round(common.percentile(latencies, 99), 3),
    }


def client_lines(
    target: dict[str, Any] | None, concurrency: dict[str, Any] | None, options: str | None
) -> list[str]:
    """The Markdown of the client target and the concurrency table (empty for old reports)."""
    if not target or not concurrency:
        return []
    verdict = {True: "met", False: "missed"}
    rows = [
        [
            f"`{mode}`",
            clients,
            f"{r['qps']:,.0f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
        ]
        for mode, by_clients in concurrency.items()
        for clients, r in by_clients.items()
    ]
    return [
        "## The client",
        "",
        f"Target `client_query` p50 <= its SQL by hand + 0.3 ms: unfiltered overhead "
        f"{target['unfiltered_overhead_ms']:.2f} ms (**{verdict[target['unfiltered_met']]}**), "
        f"at 1 % {target['filtered_overhead_ms']:.2f} ms "
        f"(**{verdict[target['filtered_met']]}**).",
        "",
        f"## Concurrent clients (sessions run with `{options}`)",
        "",
        common.md_table(["mode", "clients", "QPS", "p50 ms", "p95 ms", "p99 ms"], rows),
        "",
    ]
