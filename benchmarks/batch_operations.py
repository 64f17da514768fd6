"""Bulk ingest: the client's ``upsert`` (pgvector, memory) and ``vectra_reindex`` against the
baselines measured in the same run on the same server:

(a) raw psycopg binary COPY of the same input into an equivalent table (same columns, primary
    key and GIN index), fed the same Python lists the client gets, and fed one numpy array;
(b) Django ``bulk_create`` with pgvector-python's ``VectorField`` (what users write today).

Every method commits once per batch. The target tables have no vector index, for everyone:
an HNSW build costs the same whoever feeds the rows and would drown the ingest path.

    python benchmarks/batch_operations.py            # 100 .. 10K vectors
    python benchmarks/batch_operations.py --large    # and 100K
    python benchmarks/batch_operations.py --quick    # a smoke run of seconds
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import common
import numpy as np
from common import say
from psycopg.types.json import Jsonb

COUNTS = [100, 500, 1_000, 5_000, 10_000]
LARGE_COUNT = 100_000
BATCH_SIZES = [50, 100, 250, 500, 1_000]
# The pgvector provider's default batch size, measured too from 5K vectors on.
DEFAULT_BATCH = 5_000
INDEX = "bench_ingest"
REINDEX_INDEX = "bench_reindex"
COPY_TABLE = "bench_copy"

METHODS = {
    "copy_lists": "raw psycopg binary COPY (write_row), fed the Python lists the client gets",
    "copy_numpy": "raw psycopg binary COPY (write_row), fed rows of one float32 numpy array",
    "client_lists": "Client(provider='pgvector', url=...).upsert(vectors=[{id, values: list, "
    "metadata}])",
    "client_numpy": "Client(provider='pgvector', url=...).upsert(ids=..., values=<2-D numpy>, "
    "metadata=...)",
    "memory": "Client(provider='memory').upsert(vectors=[...]) (no database)",
    "bulk_create": "Django bulk_create, pgvector-python VectorField + JSONField, one call per "
    "batch",
    "reindex": "manage.py vectra_reindex of a model synced to a pgvector index on a URL "
    "(--batch-size)",
}
BASELINE = "copy_lists"
TARGET_RATIO = 0.8
MIN_OVERLAP_BATCHES = 5


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--large", action="store_true", help="add 100K vectors (repeated once)")
    args = p.parse_args()
    started = time.perf_counter()
    if args.quick:
        counts, batch_sizes, repeats = [100, 300], [50, 100], args.repeats or 1
    else:
        counts, batch_sizes, repeats = list(COUNTS), list(BATCH_SIZES), args.repeats or 3
        if args.large:
            counts.append(LARGE_COUNT)

    server = common.locate_server(args)
    common.prepare_database(server)
    common.setup_django(server)
    report = common.header("batch_operations", args, server)
    bench = Bench(server)
    try:
        results = []
        for count in counts:
            sizes = batch_sizes + ([DEFAULT_BATCH] if count >= DEFAULT_BATCH else [])
            runs = 1 if count >= LARGE_COUNT else repeats
            data = Data(count)
            for size in sizes:
                say(f"{count:>7} vectors, batch size {size:>5}: ", end="")
                results += bench.measure(data, size, runs)
    finally:
        bench.close()

    report.update(
        {
            "dimension": common.DIMENSION,
            "repeats": repeats,
            "repeats_note": "median of the runs (the tables truncated before each run); "
            f"{LARGE_COUNT:,} vectors run once",
            "methods": {k: v for k, v in METHODS.items() if k in bench.methods},
            "skipped": bench.skipped,
            "baseline": BASELINE,
            "results": results,
        }
    )
    report["targets"] = targets(results)
    common.finish(report, started)
    out = args.output_dir
    common.write_json(out / "batch_operations.json", report)
    common.write_markdown(out / "batch_operations.md", markdown(report))
    plot(report, out / "batch_operations.png")
    say(f"wrote {out / 'batch_operations.json'} and .md ({report['duration_s']} s)")


class Data:
    """One seeded input, in the forms each method is handed."""

    def __init__(self, count: int) -> None:
        rng = np.random.default_rng(count)
        self.count = count
        self.matrix = rng.standard_normal((count, common.DIMENSION), dtype=np.float32)
        self.lists = self.matrix.tolist()
        self.ids = [f"doc-{i}" for i in range(count)]
        self.metadata = [{"title": f"Document {i}", "category": i % 10} for i in range(count)]
        self.vectors = [
            {"id": vid, "values": values, "metadata": meta}
            for vid, values, meta in zip(self.ids, self.lists, self.metadata, strict=True)
        ]


class Bench:
    def __init__(self, server: common.Server) -> None:
        from pgvector.psycopg import register_vector

        from vectra_django import Client

        self.server = server
        self.conn = server.connect(autocommit=True)
        register_vector(self.conn)
        self.skipped: dict[str, str] = {}
        self.conn.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}")
        self.conn.execute(
            f"CREATE TABLE {COPY_TABLE} (namespace text NOT NULL DEFAULT '', id text NOT NULL, "
            f"embedding vector({common.DIMENSION}) NOT NULL, "
            "metadata jsonb NOT NULL DEFAULT '{}', PRIMARY KEY (namespace, id))"
        )
        self.conn.execute(f"CREATE INDEX ON {COPY_TABLE} USING gin (metadata)")

        self.client = Client(provider="pgvector", url=server.url)
        for name in (INDEX, REINDEX_INDEX):
            if self.client.index_exists(name):
                self.client.delete_index(name)
        self.client.create_index(INDEX, dimension=common.DIMENSION, index_type="none")
        self.client_table = self.client.describe_index(INDEX)["table"]
        self.memory = Client(provider="memory")

        from bench_app.models import PlainDoc

        self.plain = PlainDoc
        common.recreate_table(PlainDoc)

        self.methods: dict[str, tuple[Callable[[Data, int], Any], Callable[[], Any]]] = {
            "copy_lists": (self.copy_lists, self.truncate(COPY_TABLE)),
            "copy_numpy": (self.copy_numpy, self.truncate(COPY_TABLE)),
            "client_lists": (self.client_lists, self.truncate(self.client_table)),
            "client_numpy": (self.client_numpy, self.truncate(self.client_table)),
            "memory": (self.memory_upsert, self.reset_memory),
            "bulk_create": (self.bulk_create, self.truncate(PlainDoc._meta.db_table)),
        }
        self.reindex_setup()
        self.warm_up()

    # -- methods ---------------------------------------------------------------------------

    def copy_lists(self, data: Data, size: int) -> None:
        self._copy(data, size, data.lists)

    def copy_numpy(self, data: Data, size: int) -> None:
        self._copy(data, size, data.matrix)

    def _copy(self, data: Data, size: int, values: Any) -> None:
        statement = (
            f"COPY {COPY_TABLE} (namespace, id, embedding, metadata) FROM STDIN (FORMAT BINARY)"
        )
        ids, metas = data.ids, data.metadata
        for start in range(0, data.count, size):
            with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(statement) as copy:
                copy.set_types(["text", "text", "vector", "jsonb"])
                for i in range(start, min(start + size, data.count)):
                    copy.write_row(("", ids[i], values[i], Jsonb(metas[i])))

    def client_lists(self, data: Data, size: int) -> None:
        self.client.batch_size = size
        self.client.upsert(INDEX, vectors=data.vectors)

    def client_numpy(self, data: Data, size: int) -> None:
        self.client.batch_size = size
        self.client.upsert(INDEX, ids=data.ids, values=data.matrix, metadata=data.metadata)

    def memory_upsert(self, data: Data, size: int) -> None:
        self.memory.batch_size = size
        self.memory.upsert(INDEX, vectors=data.vectors)

    def bulk_create(self, data: Data, size: int) -> None:
        model = self.plain
        for start in range(0, data.count, size):
            end = min(start + size, data.count)
            model.objects.bulk_create(
                [
                    model(ext_id=data.ids[i], embedding=data.lists[i], metadata=data.metadata[i])
                    for i in range(start, end)
                ]
            )

    # -- vectra_reindex ----------------------------------------------------------------------

    def reindex_setup(self) -> None:
        if not common.orm_available():
            self.skipped["reindex"] = "the checkout has no vectra_django.db.mixins yet"
            return
        if not common.reindex_available():
            self.skipped["reindex"] = "the checkout has no vectra_reindex command yet"
            return
        from bench_app.models import SyncedDoc

        self.synced = SyncedDoc
        common.recreate_table(SyncedDoc)
        # Created here without a vector index, like every other target table (the command
        # would create it with HNSW): the comparison is of the ingest path.
        client = SyncedDoc._meta.get_field("embedding").client()
        client.create_index(REINDEX_INDEX, dimension=common.DIMENSION, index_type="none")
        self.loaded_rows = 0
        self.methods["reindex"] = (self.reindex, self.reset_reindex)

    def load_synced_rows(self, data: Data) -> None:
        """The model's rows for ``data`` (untimed): written by COPY, no sync involved."""
        if self.loaded_rows == data.count:
            return
        table = self.synced._meta.db_table
        self.conn.execute(f"TRUNCATE {table}")
        with (
            self.conn.cursor() as cur,
            cur.copy(
                f"COPY {table} (id, title, category, embedding) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["int8", "text", "int4", "vector"])
            for i in range(data.count):
                meta = data.metadata[i]
                copy.write_row((i + 1, meta["title"], meta["category"], data.matrix[i]))
        self.conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {data.count + 1})"
        )
        self.conn.execute(f"ANALYZE {table}")
        self.loaded_rows = data.count

    def reindex(self, data: Data, size: int) -> None:
        from django.core.management import call_command

        call_command(
            "vectra_reindex",
            "bench_app.SyncedDoc",
            batch_size=size,
            interactive=False,
            verbosity=0,
        )

    def reset_reindex(self) -> None:
        client = self.synced._meta.get_field("embedding").client()
        if client.index_exists(REINDEX_INDEX):
            table = client.describe_index(REINDEX_INDEX)["table"]
            self.conn.execute(f'TRUNCATE "{table}"')

    # -- plumbing --------------------------------------------------------------------------

    def truncate(self, table: str) -> Callable[[], None]:
        def run() -> None:
            self.conn.execute(f'TRUNCATE "{table}"')

        return run

    def reset_memory(self) -> None:
        if self.memory.index_exists(INDEX):
            self.memory.delete_index(INDEX)
        self.memory.create_index(INDEX, dimension=common.DIMENSION)

    def warm_up(self) -> None:
        """Open the connections and pools, register the types, fill the caches (untimed)."""
        data = Data(200)
        for name, (run, before) in self.methods.items():
            if name == "reindex":
                self.load_synced_rows(data)
            before()
            run(data, 100)
            before()

    def measure(self, data: Data, size: int, runs: int) -> list[dict[str, Any]]:
        """Each method ``runs`` times, interleaved so that load changes hit all alike."""
        if "reindex" in self.methods:
            self.load_synced_rows(data)
        times: dict[str, list[float]] = {name: [] for name in self.methods}
        for _ in range(runs):
            for name, (run, before) in self.methods.items():
                timing = common.measure(lambda run=run: run(data, size), repeats=1, before=before)
                times[name].append(timing["median_s"])
        rows = []
        for name, values in times.items():
            median = statistics.median(values)
            rows.append(
                {
                    "vector_count": data.count,
                    "batch_size": size,
                    "batches": math.ceil(data.count / size),
                    "method": name,
                    "median_s": round(median, 6),
                    "min_s": round(min(values), 6),
                    "runs_s": [round(v, 6) for v in values],
                    "vectors_per_sec": round(data.count / median, 1),
                }
            )
        by_name = {row["method"]: row for row in rows}
        for row in rows:
            for baseline in ("copy_lists", "copy_numpy"):
                row[f"ratio_to_{baseline}"] = round(
                    row["vectors_per_sec"] / by_name[baseline]["vectors_per_sec"], 3
                )
        say(
            "  ".join(
                f"{row['method']} {common.fmt_rate(row['vectors_per_sec'])}/s "
                f"({row['ratio_to_copy_lists']:.2f}x)"
                for row in rows
            )
        )
        return rows

    def close(self) -> None:
        self.client.close()
        self.conn.close()


def targets(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's ingest target (>= 0.8 x binary COPY), at batch sizes of 1,000 and more.

    Each method is compared with the COPY fed the same form of input (lists or numpy).
    ``vectra_reindex`` must read every row back before writing it, and it overlaps the
    reads of later batches with the writes of earlier ones; a run of one or two batches
    has nothing to overlap, so its target counts runs of at least ``MIN_OVERLAP_BATCHES``
    batches, and the shorter runs are summarised apart.
    """
    checks = {
        "client_lists": ("copy_lists", 1),
        "client_numpy": ("copy_numpy", 1),
        "reindex": ("copy_numpy", MIN_OVERLAP_BATCHES),
    }
    out: dict[str, Any] = {}
    for method, (baseline, min_batches) in checks.items():
        rows = [
            row
            for row in results
            if row["method"] == method
            and row["batch_size"] >= 1_000
            and row["vector_count"] >= 1_000
        ]
        ratios = [row[f"ratio_to_{baseline}"] for row in rows if row["batches"] >= min_batches]
        if not ratios:
            continue
        where = "vector counts >= 1,000, batch sizes >= 1,000"
        out[method] = {
            "baseline": baseline,
            "target": TARGET_RATIO,
            "min_ratio": min(ratios),
            "median_ratio": round(statistics.median(ratios), 3),
            "max_ratio": max(ratios),
            "met": statistics.median(ratios) >= TARGET_RATIO,
            "where": where + (f", >= {min_batches} batches" if min_batches > 1 else ""),
        }
        shorter = [row[f"ratio_to_{baseline}"] for row in rows if row["batches"] < min_batches]
        if shorter:
            out[method]["fewer_batches_median_ratio"] = round(statistics.median(shorter), 3)
    return out


def markdown(report: dict[str, Any]) -> str:
    results = report["results"]
    methods = list(report["methods"])
    lines = [
        "# Batch operations",
        "",
        f"{report['dimension']}-dimensional float32 vectors with a small metadata dict, "
        f"{report['repeats_note']}. Each cell: vectors/second and, in brackets, the ratio to "
        "raw binary COPY fed the same Python lists (`copy_lists`, the baseline). Every method "
        "commits once per batch; no table has a vector index.",
        "",
        common.md_machine(report),
        "",
        "Methods:",
        "",
        *[f"- `{name}`: {text}" for name, text in report["methods"].items()],
    ]
    for name, reason in report["skipped"].items():
        lines.append(f"- `{name}`: not measured: {reason}")
    for count in sorted({row["vector_count"] for row in results}):
        rows = [row for row in results if row["vector_count"] == count]
        lines += ["", f"## {count:,} vectors", ""]
        table = []
        for size in sorted({row["batch_size"] for row in rows}):
            cells = {row["method"]: row for row in rows if row["batch_size"] == size}
            first = next(iter(cells.values()))
            table.append(
                [f"{size:,}", f"{first['batches']:,}"]
                + [
                    f"{common.fmt_rate(cells[m]['vectors_per_sec'])} "
                    f"({cells[m]['ratio_to_copy_lists']:.2f}x)"
                    if m in cells
                    else "-"
                    for m in methods
                ]
            )
        lines.append(common.md_table(["batch size", "batches", *methods], table))
    if report["targets"]:
        lines += ["", "## Target: ingest >= 0.8 x raw binary COPY", ""]
        lines.append(
            common.md_table(
                ["method", "compared with", "runs", "median ratio", "range", "met"],
                [
                    [
                        m,
                        t["baseline"],
                        t["where"],
                        f"{t['median_ratio']:.2f}",
                        f"{t['min_ratio']:.2f} - {t['max_ratio']:.2f}",
                        "yes" if t["met"] else "no",
                    ]
                    for m, t in report["targets"].items()
                ],
            )
        )
        for m, t in report["targets"].items():
            if "fewer_batches_median_ratio" in t:
                lines += [
                    "",
                    f"{m} in runs of fewer than {MIN_OVERLAP_BATCHES} batches (nothing to "
                    f"overlap the reads with): median {t['fewer_batches_median_ratio']:.2f}.",
                ]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Any) -> None:
    plt = common.pyplot()
    if plt is None:
        return
    results = report["results"]
    count = max(row["vector_count"] for row in results)
    fig, ax = plt.subplots(figsize=(8, 5))
    for method in report["methods"]:
        rows = sorted(
            (r for r in results if r["vector_count"] == count and r["method"] == method),
            key=lambda r: r["batch_size"],
        )
        if rows:
            ax.plot(
                [r["batch_size"] for r in rows],
                [r["vectors_per_sec"] for r in rows],
                marker="o",
                label=method,
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size (vectors per commit)")
    ax.set_ylabel("vectors / second")
    ax.set_title(f"Ingest throughput, {count:,} vectors of {report['dimension']} dimensions")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    say(f"wrote {path}")


if __name__ == "__main__":
    main()
