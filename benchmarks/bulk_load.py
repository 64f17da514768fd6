"""Bulk loads to *searchable*, and what each precision costs and gives, in the same run.

Time to searchable (rows loaded and the HNSW index built, m=16, ef_construction=64, cosine)
for seeded, clustered 384-dimensional vectors:

- ``raw``: what an expert writes by hand: psycopg binary COPY of the rows (numpy rows,
  ``write_row``) into a bare table with the same columns, primary key and GIN index, then
  ``CREATE INDEX ... USING hnsw`` with the same ``maintenance_work_mem`` and parallel
  workers the package's deferred build uses;
- ``client_upsert``: ``create_index`` then one ``client.upsert(ids=, values=<2-D numpy>,
  metadata=)`` into it (the index is built after the rows);
- ``client_upsert_live``: the same into the live index (``BUILD={"DEFER": False}``), as
  before deferred builds (up to 20K rows: it is several times slower);
- ``reindex_clear``: ``manage.py vectra_reindex --clear`` of a model synced to a pgvector
  index (the rows already in the model's table), in a child process that reports its
  own peak RSS (``VmHWM``).

Then, per precision (``vector``, ``halfvec``, binary-quantized with re-ranking), each index
built by ``client.upsert``: build time, table and index size, ``client.query`` latency
p50/p95/p99 and QPS at 1, 4 and 16 threads, and recall@10 against exact search (numpy).

    python benchmarks/bulk_load.py                   # 100K vectors
    python benchmarks/bulk_load.py --rows 1000000    # the scale figures
    python benchmarks/bulk_load.py --quick           # 5K, a smoke run
    python benchmarks/bulk_load.py --vectors minilm  # real sentence embeddings (recall)

Clustered vectors are a stress case: each cluster's members are nearly equally far from a
query, so even full-precision HNSW misses many of the true top 10 at default settings, and
a one-bit-per-dimension code cannot order them at all. ``--vectors minilm`` runs the same
on real embeddings (``real_vectors.py``, the ``embeddings-st`` extra) and writes
``bulk_load_minilm.md``: the recall targets are read there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import common
import numpy as np
from common import say
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb

from vectra_django.postgres import default_ef_search, rerank_candidates

DIMENSION = common.DIMENSION
TOP_K = 10
SEED = 20_261_204
HNSW = {"m": 16, "ef_construction": 64}
RAW_TABLE = "bench_raw_load"
INDEX = "bench_load"
REINDEX_INDEX = "bench_reindex"
LIVE_LIMIT = 20_000
THREADS = (1, 4, 16)
# Candidates a binary-quantized search re-ranks (the default: rerank_candidates(top_k)).
CANDIDATES = (40, 100, 200, 400, 1000, 2000)
EF_SEARCH = (40, 100, 200)
TARGET_RATIO = 0.8
VARIANTS = {
    "vector": {},
    "halfvec": {"precision": "half"},
    "binary": {"quantization": "binary"},
}


class Dataset:
    """Gaussian clusters (seeded), drawn in chunks so 1M rows need no second copy; or
    (:meth:`minilm`) real sentence embeddings."""

    description = "seeded, clustered vectors"

    def __init__(self, n: int, clusters: int, queries: int) -> None:
        rng = np.random.default_rng(SEED)
        centers = rng.standard_normal((clusters, DIMENSION), dtype=np.float32)
        self.vectors = np.empty((n, DIMENSION), dtype=np.float32)
        for start in range(0, n, 100_000):
            count = min(100_000, n - start)
            which = rng.integers(0, clusters, count)
            noise = rng.standard_normal((count, DIMENSION), dtype=np.float32)
            self.vectors[start : start + count] = centers[which] + np.float32(0.6) * noise
        which = rng.integers(0, clusters, queries)
        noise = rng.standard_normal((queries, DIMENSION), dtype=np.float32)
        self.queries = (centers[which] + np.float32(0.6) * noise).astype(np.float32)
        self.ids = [f"doc-{i}" for i in range(n)]
        self.metadata = [{"category": i % 100} for i in range(n)]
        self.n = n

    @classmethod
    def minilm(cls, n: int, queries: int) -> Dataset:
        """``n`` embedded sentences, and ``queries`` other ones (seeded) as the queries."""
        import real_vectors

        vectors, digest = real_vectors.embeddings(n + queries)
        if len(vectors) < n + queries:
            raise SystemExit(f"only {len(vectors):,} sentences found; ask for fewer --rows")
        held_out = np.zeros(len(vectors), dtype=bool)
        held_out[np.random.default_rng(SEED).choice(len(vectors), queries, replace=False)] = True
        data = cls.__new__(cls)
        data.vectors, data.queries = vectors[~held_out], vectors[held_out]
        data.n = n
        data.ids = [f"doc-{i}" for i in range(n)]
        data.metadata = [{"category": i % 100} for i in range(n)]
        data.description = (
            "all-MiniLM-L6-v2 embeddings of docstring sentences (`benchmarks/real_vectors.py`, "
            f"sentences {digest}), each query a sentence left out of the rows"
        )
        return data

    def exact(self) -> list[list[int]]:
        """The true top 10 row numbers of each query, by cosine distance."""
        norms = np.linalg.norm(self.vectors, axis=1)
        found = []
        for q in self.queries:
            scores = (self.vectors @ (q / np.linalg.norm(q))) / norms
            top = np.argpartition(-scores, TOP_K)[:TOP_K]
            found.append([int(i) for i in top[np.argsort(-scores[top])]])
        return found


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=None, help="vectors to load (default 100K)")
    p.add_argument("--queries", type=int, default=None)
    p.add_argument(
        "--vectors", choices=("clustered", "minilm"), default="clustered", help="the data"
    )
    p.add_argument("--reindex-child", action="store_true", help=argparse_hidden())
    args = p.parse_args()
    if args.reindex_child:
        return reindex_child(args)
    started = time.perf_counter()
    n = args.rows or (5_000 if args.quick else 100_000)
    queries = args.queries or (20 if args.quick else 200)
    server = common.locate_server(args)
    if n >= 50_000:
        server.ensure_shared_buffers("1GB")
    common.prepare_database(server)
    common.setup_django(server)
    report = common.header("bulk_load", args, server)
    if args.vectors == "minilm":
        say(f"embedding (or reading) {n + queries:,} sentences")
        data = Dataset.minilm(n, queries)
    else:
        say(f"drawing {n:,} clustered vectors")
        data = Dataset(n, max(10, n // 1000), queries)
    bench = Bench(server, data, repeats=args.repeats or (1 if n > 20_000 else 3))
    report.update(rows=n, dimension=DIMENSION, hnsw=HNSW, queries=queries, vectors=data.description)
    report["searchable"] = bench.searchable()
    report["precisions"] = bench.precisions()
    common.finish(report, started)
    out, stem = args.output_dir, "bulk_load" + ("_minilm" if args.vectors == "minilm" else "")
    common.write_json(out / f"{stem}.json", report)
    common.write_markdown(out / f"{stem}.md", markdown(report))
    say(f"wrote {out / stem}.md")


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


class Bench:
    def __init__(self, server: common.Server, data: Dataset, repeats: int) -> None:
        from vectra_django import Client

        self.server = server
        self.data = data
        self.repeats = repeats
        self.conn = server.connect(autocommit=True)
        register_vector(self.conn)
        self.client = Client(provider="pgvector", url=server.url, pool_size=16, max_retries=0)

    # -- time to searchable ------------------------------------------------------------------

    def searchable(self) -> dict[str, Any]:
        results: dict[str, Any] = {}
        methods = {"raw": self.raw, "client_upsert": self.client_upsert}
        if self.data.n <= LIVE_LIMIT:
            methods["client_upsert_live"] = self.client_upsert_live
        methods["reindex_clear"] = self.reindex_clear
        self.prepare_reindex()
        for name, run in methods.items():
            runs = []
            for _ in range(self.repeats):
                say(f"  {name}: {self.data.n:,} rows ...", end="")
                outcome = run()
                runs.append(outcome)
                say(f" {outcome['seconds']:.1f} s")
            best = min(runs, key=lambda r: r["seconds"])
            seconds = float(np.median([r["seconds"] for r in runs]))
            results[name] = {**best, "seconds": seconds, "runs_s": [r["seconds"] for r in runs]}
            results[name]["rows_per_s"] = self.data.n / seconds
        raw = results["raw"]["seconds"]
        for result in results.values():
            result["vs_raw"] = raw / result["seconds"]
        return results

    def raw(self) -> dict[str, Any]:
        from vectra_django.postgres import builds

        c = self.conn
        c.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        c.execute(
            f"CREATE TABLE {RAW_TABLE} (namespace text NOT NULL DEFAULT '', id text NOT NULL, "
            f"embedding vector({DIMENSION}) NOT NULL, metadata jsonb NOT NULL DEFAULT '{{}}', "
            "PRIMARY KEY (namespace, id))"
        )
        c.execute(f"CREATE INDEX ON {RAW_TABLE} USING gin (metadata)")
        c.execute("CHECKPOINT")
        start = time.perf_counter()
        with c.transaction():
            with (
                c.cursor() as cur,
                cur.copy(
                    f"COPY {RAW_TABLE} (id, embedding, metadata) FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.set_types(["text", "vector", "jsonb"])
                for vid, row, meta in zip(
                    self.data.ids, self.data.vectors, self.data.metadata, strict=True
                ):
                    copy.write_row((vid, row, Jsonb(meta)))
            config = builds.build_config(c, RAW_TABLE, builds.BuildSettings())
            for name, value in config.items():
                c.execute(f"SET LOCAL {name} = '{value}'")
            c.execute(
                f"CREATE INDEX ON {RAW_TABLE} USING hnsw (embedding vector_cosine_ops) "
                f"WITH (m = {HNSW['m']}, ef_construction = {HNSW['ef_construction']})"
            )
        return {"seconds": time.perf_counter() - start, "build": config}

    def fresh_index(self, name: str, **options: Any) -> None:
        if self.client.index_exists(name):
            self.client.delete_index(name)
        self.client.create_index(name, dimension=DIMENSION, **HNSW, **options)
        self.conn.execute("CHECKPOINT")

    def client_upsert(self, name: str = INDEX, client: Any = None, **options: Any) -> dict:
        self.fresh_index(name, **options)
        start = time.perf_counter()
        (client or self.client).upsert(
            name, ids=self.data.ids, values=self.data.vectors, metadata=self.data.metadata
        )
        return {"seconds": time.perf_counter() - start}

    def client_upsert_live(self) -> dict[str, Any]:
        from vectra_django import Client

        live = Client(provider="pgvector", url=self.server.url, build={"DEFER": False})
        try:
            return self.client_upsert(client=live)
        finally:
            live.close()

    def prepare_reindex(self) -> None:
        """The synced model's rows, written by COPY (untimed)."""
        from bench_app.models import SyncedDoc

        common.recreate_table(SyncedDoc)
        table = SyncedDoc._meta.db_table
        with (
            self.conn.cursor() as cur,
            cur.copy(
                f"COPY {table} (id, title, category, embedding) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["int8", "text", "int4", "vector"])
            for i, row in enumerate(self.data.vectors):
                copy.write_row((i + 1, f"doc {i}", i % 100, row))
        self.conn.execute(f"ANALYZE {table}")
        self.fresh_index(REINDEX_INDEX)

    def reindex_clear(self) -> dict[str, Any]:
        """``vectra_reindex --clear`` in a child process: its own time and peak RSS."""
        self.conn.execute("CHECKPOINT")
        command = [sys.executable, __file__, "--reindex-child", "--database-url", self.server.url]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        output = child.stdout.read() if child.stdout else ""
        child.wait()
        if child.returncode != 0:
            raise SystemExit(f"vectra_reindex failed in the child process:\n{output}")
        return json.loads(output.strip().splitlines()[-1])

    # -- precisions ----------------------------------------------------------------------------

    def precisions(self) -> dict[str, Any]:
        exact = self.data.exact()
        results = {}
        for variant, options in VARIANTS.items():
            name = f"{INDEX}-{variant}"
            say(f"  {variant}: building")
            built = self.client_upsert(name, **options)
            result: dict[str, Any] = {"build_s": built["seconds"], **self.sizes(name)}
            for q in self.data.queries[:5]:  # warm up
                self.client.query(name, vector=q, top_k=TOP_K)
            result["recall_at_10"] = self.recall(name, exact)
            result["recall_by_ef_search"] = {
                str(ef): self.recall(name, exact, ef_search=ef) for ef in EF_SEARCH
            }
            if options.get("quantization"):
                result["recall_by_candidates"] = {
                    str(c): self.recall(name, exact, candidates=c) for c in CANDIDATES
                }
            result["concurrency"] = {
                str(threads): self.latency(name, threads) for threads in THREADS
            }
            say(f"    recall@10 {result['recall_at_10']:.3f}, index {result['index_mb']:.1f} MB")
            results[variant] = result
            self.client.delete_index(name)
        return results

    def recall(self, name: str, exact: list[list[int]], **options: Any) -> float:
        recalls = []
        for q, truth in zip(self.data.queries, exact, strict=True):
            ids = self.client.query(name, vector=q, top_k=TOP_K, **options).ids
            recalls.append(len({int(i.split("-")[1]) for i in ids} & set(truth)) / TOP_K)
        return float(np.mean(recalls))

    def sizes(self, name: str) -> dict[str, float]:
        table = self.client.describe_index(name)["table"]
        row = self.conn.execute(
            "SELECT pg_table_size(%s::regclass), (SELECT sum(pg_relation_size(c.oid)) "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a "
            "ON a.oid = c.relam WHERE i.indrelid = %s::regclass AND a.amname = 'hnsw')",
            [table, table],
        ).fetchone()
        return {"table_mb": row[0] / 2**20, "index_mb": float(row[1] or 0) / 2**20}

    def latency(self, name: str, threads: int) -> dict[str, float]:
        queries = list(self.data.queries)
        times: list[float] = []
        lock = threading.Lock()

        def worker(offset: int) -> None:
            mine = []
            for i in range(len(queries)):
                q = queries[(i + offset) % len(queries)]
                start = time.perf_counter()
                self.client.query(name, vector=q, top_k=TOP_K)
                mine.append(time.perf_counter() - start)
            with lock:
                times.extend(mine)

        start = time.perf_counter()
        pool = [threading.Thread(target=worker, args=(t * 7,)) for t in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        wall = time.perf_counter() - start
        ms = [t * 1000 for t in times]
        return {
            "p50_ms": common.percentile(ms, 50),
            "p95_ms": common.percentile(ms, 95),
            "p99_ms": common.percentile(ms, 99),
            "qps": len(times) / wall,
        }


def reindex_child(args: Any) -> None:
    """The child side of ``reindex_clear``: time one ``vectra_reindex --clear``."""
    server = common.Server(args.database_url)
    common.setup_django(server)
    from django.core.management import call_command

    start = time.perf_counter()
    call_command(
        "vectra_reindex", "bench_app.SyncedDoc", clear=True, interactive=False, verbosity=0
    )
    seconds = time.perf_counter() - start
    # VmHWM: this process's own peak (ru_maxrss would count the parent's pages at the fork).
    status = Path("/proc/self/status").read_text()
    peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_kb / 1024}))


def markdown(report: dict[str, Any]) -> str:
    n = report["rows"]
    s = report["searchable"]
    rows = [
        (
            name,
            f"{r['seconds']:.1f}",
            common.fmt_rate(r["rows_per_s"]),
            f"{r['vs_raw']:.2f}x",
            f"{r['peak_rss_mb']:.0f} MB" if "peak_rss_mb" in r else "",
        )
        for name, r in s.items()
    ]
    build = s["raw"].get("build", {})
    lines = [
        "# Bulk loads to searchable",
        "",
        common.md_machine(report),
        "",
        f"{n:,} {report.get('vectors', Dataset.description)} ({report['dimension']} "
        "dimensions), cosine, HNSW "
        f"m={report['hnsw']['m']} ef_construction={report['hnsw']['ef_construction']}; the "
        f"builds ran with maintenance_work_mem={build.get('maintenance_work_mem', '?')} and "
        f"max_parallel_maintenance_workers={build.get('max_parallel_maintenance_workers', '?')}.",
        "",
        "## Time to searchable (load + index build)",
        "",
        common.md_table(("method", "seconds", "rows/s", "vs raw", "peak RSS"), rows),
        "",
        f"Target: client_upsert and reindex_clear at least {TARGET_RATIO}x raw.",
        "",
        "## Precisions",
        "",
    ]
    prec = report["precisions"]
    lines.append(
        common.md_table(
            (
                "index",
                "build s",
                "table MB",
                "index MB",
                "recall@10",
                *(f"p50/p95/p99 ms, QPS @{t}" for t in THREADS),
            ),
            [
                (
                    variant,
                    f"{r['build_s']:.1f}",
                    f"{r['table_mb']:.0f}",
                    f"{r['index_mb']:.1f}",
                    f"{r['recall_at_10']:.3f}",
                    *(
                        "{p50_ms:.2f}/{p95_ms:.2f}/{p99_ms:.2f}, {qps:.0f}".format(
                            **r["concurrency"][str(t)]
                        )
                        for t in THREADS
                    ),
                )
                for variant, r in prec.items()
            ],
        )
    )
    lines += recall_table(
        prec,
        "recall_by_ef_search",
        EF_SEARCH,
        "Recall@10 by `hnsw.ef_search` (`client.query(..., ef_search=n)`; the default is "
        f"{default_ef_search(TOP_K, False)}; on the binary-quantized index it is the "
        "candidates' search):",
    )
    lines += recall_table(
        prec,
        "recall_by_candidates",
        CANDIDATES,
        "Recall@10 of the binary-quantized index by candidates re-ranked "
        "(`client.query(..., candidates=n)`; the default is "
        f"{rerank_candidates(TOP_K)} for top_k={TOP_K}):",
    )
    return "\n".join([*lines, "", *precision_targets(prec)])


def recall_table(
    prec: dict[str, Any], key: str, settings: tuple[int, ...], caption: str
) -> list[str]:
    """A table of recall@10 per variant by each of ``settings`` (the variants that have
    ``key``), under ``caption``; no lines when none has it."""
    rows = [
        (variant, *(f"{r[key][str(value)]:.3f}" for value in settings))
        for variant, r in prec.items()
        if key in r
    ]
    if not rows:
        return []
    return ["", caption, "", common.md_table(("index", *(str(v) for v in settings)), rows)]


def precision_targets(prec: dict[str, Any]) -> list[str]:
    """The halfvec and binary-quantization targets, read off this run."""
    if not {"vector", "halfvec", "binary"} <= set(prec):
        return []
    vector, half, binary = prec["vector"], prec["halfvec"], prec["binary"]
    gap = half["recall_at_10"] - vector["recall_at_10"]
    half_met = abs(gap) <= 0.01 and half["index_mb"] <= 0.6 * vector["index_mb"]
    smaller = vector["index_mb"] / max(binary["index_mb"], 1e-9)
    binary_met = binary["recall_at_10"] >= 0.95 and smaller >= 3
    return [
        f"Target, halfvec: index about half of vector's, recall@10 within 0.01: index "
        f"{half['index_mb'] / vector['index_mb']:.2f}x, recall {gap:+.3f}: "
        f"**{'met' if half_met else 'missed'}**.",
        "",
        f"Target, binary quantization with re-ranking: recall@10 >= 0.95 and an index several "
        f"times smaller: recall {binary['recall_at_10']:.3f}, index {smaller:.1f}x smaller: "
        f"**{'met' if binary_met else 'missed'}**.",
    ]


if __name__ == "__main__":
    main()
