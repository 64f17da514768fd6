"""Where the time goes: cProfile of the client's upsert, vectra_reindex and vector_search,
next to the raw baselines, with wall time split into this process's CPU time and the rest
(waiting for PostgreSQL).

    python benchmarks/profile_ingest.py [--count 10000] [--batch-size 1000] [--quick]

Writes ``profile.md`` (the top functions of each) under ``--output-dir``. Needs the search
table left by ``search.py`` for the search profile (skipped otherwise).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sysconfig
import time
from pathlib import Path
from typing import Any

import batch_operations as bo
import common
from common import say

TOP = 18


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=1_000)
    args = p.parse_args()
    if args.quick:
        args.count, args.batch_size = 500, 100
    server = common.locate_server(args)
    common.prepare_database(server)
    common.setup_django(server)
    bench = bo.Bench(server)
    data = bo.Data(args.count)
    sections = []
    try:
        if "reindex" in bench.methods:
            bench.load_synced_rows(data)
        for name in ("copy_lists", "copy_numpy", "client_lists", "client_numpy", "reindex"):
            if name not in bench.methods:
                continue
            run, before = bench.methods[name]
            before()
            sections.append(profile(name, lambda run=run: run(data, args.batch_size)))
        split = server_split(bench, data, args.batch_size)
        reads = read_paths(bench, data) if "reindex" in bench.methods else {}
        sections += profile_search(server)
        decomposition = search_decomposition(server)
    finally:
        bench.close()

    text = [
        "# Profiles",
        "",
        f"cProfile, {args.count:,} vectors of {common.DIMENSION} dimensions, batch size "
        f"{args.batch_size:,} (search: 50 queries on the search benchmark's table). *CPU* is "
        "this process's CPU time; the rest of the wall time is spent waiting, mostly for "
        "PostgreSQL. Profiling slows Python code down, so compare the shapes, not the totals "
        "with the benchmark tables.",
    ]
    for s in sections:
        text += [
            "",
            f"## {s['name']}",
            "",
            f"wall {s['wall_s']:.3f} s, CPU {s['cpu_s']:.3f} s "
            f"({100 * s['cpu_s'] / s['wall_s']:.0f} %)",
            "",
            "```",
            s["stats"].rstrip(),
            "```",
        ]
    text += ["", "## Server side of one upsert: staging table versus direct COPY", ""]
    text += [
        "The same binary COPY stream (built by the provider's own `_pgsql.copy_rows`, untimed) "
        f"sent for {args.count:,} vectors in batches of {args.batch_size:,}: straight into "
        "the table (what the provider does when the ids are new), and the merge it needs when "
        "they may be stored already (CREATE TEMP TABLE, COPY into it, INSERT .. SELECT .. ON "
        "CONFLICT DO UPDATE, DROP TABLE). Median of 5, tables truncated before each run.",
        "",
        common.md_table(
            ["path", "median s", "vectors/s"],
            [[k, f"{v:.3f}", common.fmt_rate(args.count / v)] for k, v in split.items()],
        ),
    ]
    if reads:
        text += ["", "## vectra_reindex's read side", ""]
        text += [
            f"Reading the {args.count:,} rows of the reindexed model (pk, vector, two metadata "
            "columns) into what `upsert(ids=, values=, metadata=)` takes. Median of 3.",
            "",
            common.md_table(
                ["read path", "median s", "rows/s"],
                [[k, f"{v:.3f}", common.fmt_rate(args.count / v)] for k, v in reads.items()],
            ),
        ]
    if decomposition:
        text += ["", "## Search overhead, step by step", ""]
        text += [
            "p50 over 200 queries each, interleaved (the order rotated per query), on the search "
            "benchmark's table (ef_search 40, top 10).",
            "",
            common.md_table(
                ["variant", "p50 ms"], [[k, f"{v:.3f}"] for k, v in decomposition.items()]
            ),
        ]
    path = common.write_markdown(Path(args.output_dir) / "profile.md", "\n".join(text))
    say(f"wrote {path}")


def profile(name: str, run: Any) -> dict[str, Any]:
    profiler = cProfile.Profile()
    wall, cpu = time.perf_counter(), time.process_time()
    profiler.enable()
    run()
    profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(TOP)
    body = out.getvalue()
    # Keep the table only, with paths relative to the checkout or site-packages.
    body = body[body.find("   ncalls") :] if "   ncalls" in body else body
    body = body.replace(str(common.ROOT) + "/", "")
    body = body.replace(sysconfig.get_paths()["stdlib"] + "/", "<stdlib>/")
    body = "\n".join(_site_relative(line) for line in body.splitlines())
    say(f"{name}: wall {wall:.3f} s, CPU {cpu:.3f} s")
    return {"name": name, "wall_s": wall, "cpu_s": cpu, "stats": body}


def _site_relative(line: str) -> str:
    marker = "site-packages/"
    if marker in line:
        start = line.find(marker)
        prefix = line[: line.rfind(" ", 0, start) + 1]
        return prefix + line[start + len(marker) :]
    return line


def server_split(bench: Any, data: Any, size: int) -> dict[str, float]:
    from psycopg import sql

    from vectra_django.client.validation import batch as make_batch
    from vectra_django.providers.pgvector import sql as _pgsql

    conn = bench.conn
    target = bo.COPY_TABLE
    chunks = []
    for start in range(0, data.count, size):
        b = make_batch(
            ids=data.ids[start : start + size],
            values=data.matrix[start : start + size],
            metadata=data.metadata[start : start + size],
        )
        chunks.append(b"".join(_pgsql.copy_rows(b, False)))

    def direct() -> None:
        for chunk in chunks:
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(
                    f"COPY {target} (id, embedding, metadata) FROM STDIN (FORMAT BINARY)"
                ) as cp,
            ):
                cp.write(chunk)

    upsert = (
        f"INSERT INTO {target} (namespace, id, embedding, metadata) "
        "SELECT %s, id, embedding, metadata FROM {} "
        "ON CONFLICT (namespace, id) DO UPDATE "
        "SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata"
    )

    def staged() -> None:
        for n, chunk in enumerate(chunks):
            stage = sql.Identifier(f"bench_stage_{n}")
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    sql.SQL(
                        "CREATE TEMP TABLE {} (id text, embedding vector({}), metadata jsonb) "
                        "ON COMMIT DROP"
                    ).format(stage, sql.Literal(common.DIMENSION))
                )
                with cur.copy(sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(stage)) as cp:
                    cp.write(chunk)
                cur.execute(sql.SQL(upsert).format(stage), [""])
                cur.execute(sql.SQL("DROP TABLE {}").format(stage))

    conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS bench_stage_kept (id text, embedding "
        f"vector({common.DIMENSION}), metadata jsonb) ON COMMIT DELETE ROWS"
    )

    def kept() -> None:
        for chunk in chunks:
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy("COPY bench_stage_kept FROM STDIN (FORMAT BINARY)") as cp:
                    cp.write(chunk)
                cur.execute(sql.SQL(upsert).format(sql.Identifier("bench_stage_kept")), [""])

    def truncate() -> None:
        conn.execute(f"TRUNCATE {target}")

    out = {}
    for name, run in (
        ("direct COPY into the table (the provider's path for new ids)", direct),
        ("staging table + INSERT .. ON CONFLICT (the provider's path for stored ids)", staged),
        ("one staging table kept per connection (ON COMMIT DELETE ROWS)", kept),
    ):
        out[name] = common.measure(run, repeats=5, before=truncate)["median_s"]
        say(f"{name}: {out[name]:.3f} s")
    return out


def read_paths(bench: Any, data: Any) -> dict[str, float]:
    """The command's way of reading rows against a binary cursor that yields numpy arrays."""
    import numpy as np
    from pgvector.psycopg import register_vector

    model = bench.synced
    table = model._meta.db_table

    def orm() -> None:
        rows = list(model._base_manager.order_by("pk").only("pk", "embedding", "title", "category"))
        np.asarray([r.embedding for r in rows], np.float32)
        [{"title": r.title, "category": r.category} for r in rows]

    conn = bench.server.connect()
    register_vector(conn)

    def binary() -> None:
        with conn.cursor(binary=True) as cur:
            cur.execute(f"SELECT id, embedding, title, category FROM {table} ORDER BY id")
            rows = cur.fetchall()
        np.stack([r[1].to_numpy() for r in rows]).astype(np.float32, copy=False)
        [{"title": r[2], "category": r[3]} for r in rows]

    def per_row() -> None:
        from vectra_django.db.reindex import values_rows

        rows = values_rows(
            model._base_manager.order_by("pk"), "pk", "embedding", "title", "category"
        )
        np.stack([r[1] for r in rows])
        [{"title": r[2], "category": r[3]} for r in rows]

    def command() -> None:
        from vectra_django.db.reindex import stack_vectors, values_rows

        rows = values_rows(
            model._base_manager.order_by("pk"),
            *("pk", "embedding", "title", "category"),
            raw_vectors=True,
        )
        stack_vectors([r[1] for r in rows])
        [{"title": r[2], "category": r[3]} for r in rows]

    out = {}
    for name, run in (
        ("model instances (.only(), how vectra_reindex used to read)", orm),
        ("bulkread.values_rows, one array per row, np.stack", per_row),
        ("bulkread.values_rows(raw_vectors=True), stack_vectors (how it reads now)", command),
        ("raw psycopg binary cursor with pgvector's loader, np.stack", binary),
    ):
        out[name] = common.measure(run, repeats=3)["median_s"]
        say(f"{name}: {out[name]:.3f} s")
    conn.close()
    return out


def search_decomposition(server: common.Server) -> dict[str, float]:
    import numpy as np
    import psycopg
    from bench_app.models import SearchDoc
    from pgvector.psycopg import register_vector
    from search import RawSearch, orm_ids, orm_search

    table = SearchDoc._meta.db_table
    with server.connect() as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relname = %s", [table]
        ).fetchone()[0]
    if not found:
        return {}
    rng = np.random.default_rng(5)
    queries = rng.standard_normal((220, common.DIMENSION), dtype=np.float32)
    prepared = server.connect()
    register_vector(prepared)
    unprepared = server.connect(prepare_threshold=None)
    register_vector(unprepared)
    literal = server.connect(cursor_factory=psycopg.ClientCursor, prepare_threshold=None)
    register_vector(literal)
    as_text = RawSearch(literal, table)

    def text_literal(q: np.ndarray) -> list[int]:
        # Client-side binding of the vector as text, as Django's backend sends it.
        return as_text.search(q.tolist().__str__().replace(" ", ""))

    variants = {
        "raw SQL, prepared by psycopg, binary vector parameter": RawSearch(prepared, table).search,
        "raw SQL, not prepared": RawSearch(unprepared, table).search,
        "raw SQL, vector sent as a text literal (client-side binding)": text_literal,
        "vector_search(load_records=False)": lambda q: orm_ids(SearchDoc, q),
        "vector_search(), model instances, vectors deferred (the default)": lambda q: orm_search(
            SearchDoc, q
        ),
        "vector_search(include_values=True), instances with their vectors": lambda q: orm_search(
            SearchDoc, q, include_values=True
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for j, q in enumerate(queries):
        # The order rotates per query: the first search of a query pays for cold caches.
        for name in names[j % len(names) :] + names[: j % len(names)]:
            run = variants[name]
            start = time.perf_counter()
            run(q)
            if j >= 20:
                times[name].append(time.perf_counter() - start)
    for c in (prepared, unprepared, literal):
        c.close()
    out = {name: common.percentile(t, 50) * 1000 for name, t in times.items()}
    for name, value in out.items():
        say(f"{name}: p50 {value:.3f} ms")
    return out


def profile_search(server: common.Server) -> list[dict[str, Any]]:
    import numpy as np
    from bench_app.models import SearchDoc
    from pgvector.psycopg import register_vector
    from search import RawSearch, orm_search

    with server.connect() as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relname = %s", [SearchDoc._meta.db_table]
        ).fetchone()[0]
    if not found:
        say("no search table (run search.py first): search profiles skipped")
        return []
    rng = np.random.default_rng(3)
    queries = rng.standard_normal((50, common.DIMENSION), dtype=np.float32)
    conn = server.connect()
    register_vector(conn)
    raw = RawSearch(conn, SearchDoc._meta.db_table)
    for q in queries[:10]:
        orm_search(SearchDoc, q)
        raw.search(q)
    try:
        return [
            profile("vector_search x 50", lambda: [orm_search(SearchDoc, q) for q in queries]),
            profile("raw_sql x 50", lambda: [raw.search(q) for q in queries]),
        ]
    finally:
        conn.close()


if __name__ == "__main__":
    main()
