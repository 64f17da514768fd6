"""Search: ``vector_search`` returning model instances against the same query as raw SQL, on
100K seeded, clustered 384-dimensional vectors under an HNSW index, in the same run.

- latency p50/p95 of ``Model.objects.vector_search(vec, limit=10)`` (model instances, the
  vector column deferred as ``vector_search`` does by default), of the same with
  ``include_values=True`` (the vector loaded into each instance), of ``load_records=False``,
  and of raw psycopg SQL of the same shape for each (same columns, same
  ``ORDER BY .. LIMIT``, same ``SET LOCAL hnsw.ef_search``);
- recall@10 of each against exact search (numpy brute force over the same float32 data);
- a filtered search at 1 % selectivity (a category column with 100 values, independent of the
  clusters, not indexed, so the HNSW index has to find the matches): raw SQL with the
  iterative scan off, ``relaxed_order`` and ``strict_order``, and ``vector_search(filter=...)``;
  recall@10 and rows returned.

At 100K vectors the embedded server gets ``shared_buffers = 1GB`` (ALTER SYSTEM + restart),
the table is loaded with binary COPY and the index built with ``maintenance_work_mem = 1GB``.
The loaded table is kept and reused by the next run when its fingerprint matches
(``--rebuild`` forces a reload).

    python benchmarks/search.py [--quick] [--rebuild]
"""

from __future__ import annotations

import re
import time
from typing import Any

import common
import numpy as np
from common import say
from pgvector.psycopg import register_vector
from search_client import (
    SESSION_OPTIONS,
    client_index,
    client_lines,
    client_search,
    client_targets,
    run_concurrency,
)

DIMENSION = common.DIMENSION
TOP_K = 10
EF_SEARCH = 40  # pgvector's default: what an unfiltered vector_search with limit <= 40 uses
FILTERED_EF_SEARCH = 200  # what it sets when it filters
CATEGORIES = 100  # -> 1 % selectivity per category
SEED = 20_240_601
HNSW = {"m": 16, "ef_construction": 64}


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--vectors", type=int, default=None)
    p.add_argument("--queries", type=int, default=None)
    p.add_argument("--rebuild", action="store_true", help="reload the table even if it matches")
    args = p.parse_args()
    started = time.perf_counter()
    if args.quick:
        n, clusters, queries, filtered_queries, warmup = 2_000, 10, 20, 10, 5
    else:
        n, clusters, queries, filtered_queries, warmup = 100_000, 100, 300, 100, 50
    n = args.vectors or n
    queries = args.queries or queries

    server = common.locate_server(args)
    if not args.quick:
        server.ensure_shared_buffers("1GB")
    common.prepare_database(server)
    # What docs/models.md recommends: the session already runs the iterative scan, so an
    # unfiltered search within the default ef_search is its query alone, for every mode.
    common.setup_django(server, session_options=SESSION_OPTIONS)
    report = common.header("search", args, server)
    if not common.orm_available():
        raise SystemExit("search.py needs the ORM layer (vectra_django.db.mixins)")
    from bench_app.models import SearchDoc

    data = Dataset(n, clusters, queries + warmup, filtered_queries)
    table = SearchDoc._meta.db_table
    build = load(server, SearchDoc, data, quick=args.quick, rebuild=args.rebuild)
    conn = server.connect(autocommit=True, options=SESSION_OPTIONS)
    register_vector(conn)
    raw = RawSearch(conn, table)
    client, client_raw = client_index(server, data, quick=args.quick)

    say(f"warming up ({warmup} queries per mode)")
    for q in data.queries[:warmup]:
        orm_search(SearchDoc, q)
        raw.search(q)
        client_search(client, q)
        client_raw.search(q)
    timed = data.queries[warmup:]
    exact = [data.exact(q) for q in timed]

    say(f"unfiltered: {len(timed)} queries per mode, interleaved")
    modes = {
        "vector_search": lambda q: orm_search(SearchDoc, q),
        "raw_sql": raw.search,
        "vector_search_values": lambda q: orm_search(SearchDoc, q, include_values=True),
        "raw_sql_values": lambda q: raw.search(q, with_vector=True),
        "vector_search_ids": lambda q: orm_ids(SearchDoc, q),
        "raw_sql_ef100": lambda q: raw.search(q, ef_search=100),
    }
    unfiltered = run_modes(modes, timed, exact)
    # The client against its own baseline, interleaved as a pair: each target compares a mode
    # with the hand-written query of the same shape, query by query.
    say("unfiltered, the client and its SQL by hand:")
    client_modes = {
        "client_query": lambda q: client_search(client, q),
        "raw_sql_client_shape": client_raw.search,
    }
    unfiltered.update(run_modes(client_modes, timed, exact))
    target_latency = {
        "target": "vector_search p50 <= raw_sql p50 + 0.5 ms",
        "vector_search_p50_ms": unfiltered["vector_search"]["latency_ms"]["p50"],
        "raw_sql_p50_ms": unfiltered["raw_sql"]["latency_ms"]["p50"],
        "vector_search_values_p50_ms": unfiltered["vector_search_values"]["latency_ms"]["p50"],
        "raw_sql_values_p50_ms": unfiltered["raw_sql_values"]["latency_ms"]["p50"],
    }
    for suffix in ("", "_values"):
        target_latency[f"overhead{suffix}_ms"] = round(
            target_latency[f"vector_search{suffix}_p50_ms"]
            - target_latency[f"raw_sql{suffix}_p50_ms"],
            3,
        )
    target_latency["met"] = target_latency["overhead_ms"] <= 0.5
    target_latency["met_values"] = target_latency["overhead_values_ms"] <= 0.5

    say(f"filtered at 1 %: {len(data.filtered)} queries per mode")
    fq = data.filtered
    f_exact = [data.exact(q, category=c) for q, c in fq]
    f_modes = {
        "raw_iterative_off": lambda qc: raw.search(qc[0], category=qc[1], iterative="off"),
        "raw_relaxed_order": lambda qc: raw.search(
            qc[0], category=qc[1], iterative="relaxed_order"
        ),
        "raw_strict_order": lambda qc: raw.search(qc[0], category=qc[1], iterative="strict_order"),
        "hnsw_iterative_off": lambda qc: raw.search(
            qc[0], category=qc[1], iterative="off", force_index=True
        ),
        "hnsw_relaxed_order": lambda qc: raw.search(
            qc[0], category=qc[1], iterative="relaxed_order", force_index=True
        ),
        "hnsw_relaxed_ef100": lambda qc: raw.search(
            qc[0], category=qc[1], iterative="relaxed_order", force_index=True, ef_search=100
        ),
        "hnsw_relaxed_ef200": lambda qc: raw.search(
            qc[0], category=qc[1], iterative="relaxed_order", force_index=True, ef_search=200
        ),
        "vector_search_filter": lambda qc: orm_search(SearchDoc, qc[0], category=qc[1]),
    }
    filtered = run_modes(f_modes, fq, f_exact)
    say("filtered, the client and its SQL by hand:")
    client_f_modes = {
        "client_query_filter": lambda qc: client_search(client, qc[0], qc[1]),
        "raw_sql_client_shape_filter": lambda qc: client_raw.search(qc[0], qc[1]),
    }
    filtered.update(run_modes(client_f_modes, fq, f_exact))
    # The same queries again: every filter value has been seen once, so vector_search reuses
    # the statement it compiled for it (vectra_django.statements), as a search form with a
    # handful of categories would.
    say("filtered again, each filter value seen before:")
    filtered.update(
        run_modes(
            {
                "vector_search_filter_repeated": lambda qc: orm_search(
                    SearchDoc, qc[0], category=qc[1]
                ),
                "hnsw_relaxed_ef200_repeated": f_modes["hnsw_relaxed_ef200"],
            },
            fq,
            f_exact,
        )
    )
    # The same filtered search once the filter column has a B-tree index: the planner may then
    # read the ~1 % of matching rows and sort them (exact) instead of walking the graph.
    with server.connect(autocommit=True) as admin:
        admin.execute(f"CREATE INDEX IF NOT EXISTS {table}_category ON {table} (category)")
        admin.execute(f"ANALYZE {table}")
    try:
        say("filtered, with a B-tree index on the filter column:")
        filtered.update(
            run_modes(
                {
                    "vector_search_filter_btree": lambda qc: orm_search(
                        SearchDoc, qc[0], category=qc[1]
                    )
                },
                fq,
                f_exact,
            )
        )
        btree_plan = raw.explain(
            orm_sql(SearchDoc, fq[0][0], fq[0][1]),
            iterative="relaxed_order",
            ef_search=FILTERED_EF_SEARCH,
        )
    finally:
        with server.connect(autocommit=True) as admin:
            admin.execute(f"DROP INDEX IF EXISTS {table}_category")
    target_client = client_targets(unfiltered, filtered)
    say("concurrency: QPS and latency at 1, 4 and 16 clients")
    concurrency = run_concurrency(
        server, SearchDoc, client, table, client_raw.table, data, quick=args.quick
    )
    client.close()
    f = filtered["vector_search_filter"]
    target_filtered = {
        "target": "recall@10 >= 0.95 and always 10 rows when >= 10 rows match",
        "matching_rows_min": int(min(data.category_counts[c] for _, c in fq)),
        "recall_at_10": f["recall_at_10"],
        "min_rows": f["rows"]["min"],
        "met": f["recall_at_10"] >= 0.95 and f["rows"]["min"] == TOP_K,
    }

    plans = {
        "raw_sql": raw.plan(timed[0]),
        "raw_sql_filtered_off": raw.plan(fq[0][0], category=fq[0][1], iterative="off"),
        "raw_sql_filtered_relaxed": raw.plan(
            fq[0][0], category=fq[0][1], iterative="relaxed_order"
        ),
        "hnsw_filtered_forced": raw.plan(
            fq[0][0], category=fq[0][1], iterative="relaxed_order", force_index=True
        ),
    }
    orm_plain = orm_sql(SearchDoc, timed[0])
    orm_filtered = orm_sql(SearchDoc, fq[0][0], fq[0][1])
    plans.update(
        {
            "vector_search_sql": shorten(orm_plain),
            "vector_search_plan": raw.explain(orm_plain),
            "vector_search_filter_sql": shorten(orm_filtered),
            "vector_search_filter_plan": raw.explain(
                orm_filtered, iterative="relaxed_order", ef_search=FILTERED_EF_SEARCH
            ),
            "vector_search_filter_btree_plan": btree_plan,
        }
    )
    conn.close()

    report.update(
        {
            "vectors": n,
            "dimension": DIMENSION,
            "clusters": clusters,
            "metric": "cosine",
            "top_k": TOP_K,
            "ef_search": EF_SEARCH,
            "hnsw": HNSW,
            "queries": len(timed),
            "warmup_queries": warmup,
            "filtered_queries": len(fq),
            "selectivity": 1 / CATEGORIES,
            "build": build,
            "unfiltered": unfiltered,
            "filtered": filtered,
            "plans": plans,
            "concurrency": concurrency,
            "session_options": SESSION_OPTIONS,
            "targets": {
                "latency": target_latency,
                "filtered": target_filtered,
                "client": target_client,
            },
            "modes": {
                "vector_search": "list(Model.objects.vector_search(vec, limit=10)): model "
                "instances with vector_score / vector_distance, the vector column deferred "
                "(the default)",
                "raw_sql": "psycopg, the vector a binary parameter, unprepared, no SET (pgvector's "
                "default hnsw.ef_search is the 40 wanted): SELECT id, category, distance, "
                "score .. ORDER BY distance LIMIT 10",
                "vector_search_values": "the same with include_values=True: each instance "
                "gets its 384-float vector",
                "raw_sql_values": "raw_sql also selecting embedding (pgvector's loader)",
                "vector_search_ids": "vector_search(vec, limit=10, load_records=False)",
                "raw_sql_ef100": "the same with SET LOCAL hnsw.ef_search=100 in a transaction",
                "raw_iterative_off": "raw SQL, WHERE category = c, hnsw.iterative_scan=off",
                "raw_relaxed_order": "raw SQL, WHERE category = c, iterative_scan=relaxed_order",
                "raw_strict_order": "raw SQL, WHERE category = c, iterative_scan=strict_order",
                "hnsw_iterative_off": "raw SQL, WHERE category = c, iterative_scan=off, "
                "enable_seqscan=off (the HNSW index forced, whatever the planner prefers)",
                "hnsw_relaxed_order": "the same with iterative_scan=relaxed_order",
                "hnsw_relaxed_ef100": "the same with hnsw.ef_search=100",
                "hnsw_relaxed_ef200": "the same with hnsw.ef_search=200 (what vector_search "
                "sets when it filters)",
                "vector_search_filter": "vector_search(vec, limit=10, filter={'category': c})",
                "vector_search_filter_repeated": "vector_search_filter run again over the "
                "same queries: each filter value was seen before, so its compiled statement "
                "is reused",
                "hnsw_relaxed_ef200_repeated": "hnsw_relaxed_ef200 run again, interleaved with "
                "vector_search_filter_repeated",
                "vector_search_filter_btree": "the same, with a B-tree index on category "
                "(created for this mode only, dropped after)",
                "client_query": "Client(provider='pgvector', url=...).query(index, vec, "
                "top_k=10): ids, scores and metadata from the client's own index table "
                "(same vectors, HNSW built after the load)",
                "raw_sql_client_shape": "psycopg, the client's SQL by hand on the same "
                "table: SELECT id, distance, metadata .. ORDER BY distance LIMIT 10, the "
                "query alone (the session runs the iterative scan)",
                "client_query_filter": "client.query(..., filter={'category': c})",
                "raw_sql_client_shape_filter": "the same SQL by hand with its settings "
                "(hnsw.ef_search=200): BEGIN, set_config, the query, COMMIT in one psycopg "
                "pipeline",
            },
        }
    )
    common.finish(report, started)
    out = args.output_dir
    common.write_json(out / "search.json", report)
    common.write_markdown(out / "search.md", markdown(report))
    plot(report, out / "search.png")
    say(f"wrote {out / 'search.json'} and .md ({report['duration_s']} s)")


# -- data ---------------------------------------------------------------------------------------


class Dataset:
    """Gaussian clusters (seeded); queries drawn from the same clusters, not from the data."""

    def __init__(self, n: int, clusters: int, queries: int, filtered: int) -> None:
        rng = np.random.default_rng(SEED)
        centers = rng.standard_normal((clusters, DIMENSION), dtype=np.float32)
        spread = np.float32(0.6)

        def draw(count: int) -> np.ndarray:
            which = rng.integers(0, clusters, count)
            noise = rng.standard_normal((count, DIMENSION), dtype=np.float32)
            return (centers[which] + spread * noise).astype(np.float32)

        self.n = n
        self.clusters = clusters
        self.vectors = draw(n)
        self.categories = rng.integers(0, CATEGORIES, n).astype(np.int32)
        self.category_counts = np.bincount(self.categories, minlength=CATEGORIES)
        self.queries = draw(queries)
        picks = [int(c) for c in rng.integers(0, CATEGORIES, filtered)]
        self.filtered = list(zip(draw(filtered), picks, strict=True))
        self.unit = self.vectors / np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self.fingerprint = f"vectra-bench n={n} d={DIMENSION} clusters={clusters} seed={SEED}"

    def exact(self, q: np.ndarray, category: int | None = None) -> list[int]:
        """The true top-k ids (primary keys are row numbers + 1) by cosine distance."""
        scores = self.unit @ (q / np.linalg.norm(q))
        if category is not None:
            scores = np.where(self.categories == category, scores, -np.inf)
        top = np.argpartition(-scores, TOP_K)[:TOP_K]
        top = top[np.argsort(-scores[top])]
        return [int(i) + 1 for i in top]


def load(server: common.Server, model: Any, data: Dataset, *, quick: bool, rebuild: bool) -> dict:
    """The model's table with ``data`` (binary COPY) and its HNSW index; reused when it matches."""
    table = model._meta.db_table
    index = f"{table}_hnsw"
    with server.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT obj_description(to_regclass(%s), 'pg_class'), to_regclass(%s) IS NOT NULL",
            [table, index],
        ).fetchone()
        if row and row[0] == data.fingerprint and row[1] and not rebuild:
            say(f"reusing {table} ({data.fingerprint})")
            prewarm(conn, table, index)
            return {"reused": True, "note": "table and index from an earlier run, same data"}

    common.recreate_table(model)
    say(f"loading {data.n:,} vectors with binary COPY")
    with server.connect(autocommit=True) as conn:
        register_vector(conn)
        start = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {table} (id, category, embedding) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(["int8", "int4", "vector"])
            for i in range(data.n):
                copy.write_row((i + 1, int(data.categories[i]), data.vectors[i]))
        load_s = time.perf_counter() - start
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {data.n + 1})")
        say(f"building the HNSW index (m={HNSW['m']}, ef_construction={HNSW['ef_construction']})")
        settings = {"max_parallel_maintenance_workers": "1"}
        if not quick:
            settings["maintenance_work_mem"] = "1GB"
        for name, value in settings.items():
            conn.execute("SELECT set_config(%s, %s, false)", [name, value])
        start = time.perf_counter()
        conn.execute(
            f"CREATE INDEX {index} ON {table} USING hnsw (embedding vector_cosine_ops) "
            f"WITH (m = {HNSW['m']}, ef_construction = {HNSW['ef_construction']})"
        )
        build_s = time.perf_counter() - start
        conn.execute(f"VACUUM ANALYZE {table}")
        conn.execute(f"COMMENT ON TABLE {table} IS '{data.fingerprint}'")
        prewarm(conn, table, index)
    say(f"loaded in {load_s:.1f} s, index built in {build_s:.1f} s")
    return {
        "reused": False,
        "copy_s": round(load_s, 2),
        "copy_vectors_per_sec": round(data.n / load_s, 1),
        "index_build_s": round(build_s, 2),
        "index_settings": settings,
    }


def prewarm(conn: Any, table: str, index: str) -> None:
    """Table and index into shared buffers, so the first timed queries read no disk."""
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        conn.execute("SELECT pg_prewarm(%s), pg_prewarm(%s)", [table, index])
    except Exception as exc:  # pg_prewarm is optional: the warm-up queries do the rest
        say(f"pg_prewarm unavailable ({exc}); relying on warm-up queries")


# -- the searches -------------------------------------------------------------------------------


def orm_search(
    model: Any, q: np.ndarray, category: int | None = None, include_values: bool = False
) -> list[int]:
    qs = model.objects.all()
    flt = None if category is None else {"category": category}
    results = qs.vector_search(q, limit=TOP_K, filter=flt, include_values=include_values)
    return [obj.pk for obj in results]


def orm_ids(model: Any, q: np.ndarray) -> list[int]:
    result = model.objects.vector_search(q, limit=TOP_K, load_records=False)
    prefix = f"{model._meta.db_table}_"
    return [int(m.id[len(prefix) :]) for m in result]


def orm_sql(model: Any, q: np.ndarray, category: int | None = None) -> str:
    """The SELECT that ``vector_search`` sends, parameters inlined (for EXPLAIN)."""
    from django.db import connection

    flt = None if category is None else {"category": category}
    qs = model.objects.vector_search(q, limit=TOP_K, filter=flt)
    statement, params = qs.query.get_compiler(qs.db).as_sql()
    return connection.ops.compose_sql(statement, params)


def shorten(text: str) -> str:
    return VECTOR_LITERAL.sub("'[...]'", text)


VECTOR_LITERAL = re.compile(r"'\[[-0-9.e, ]{40,}\]'")


class RawSearch:
    """The ORM's query, written by hand: same columns, ordering, limit and settings."""

    def __init__(self, conn: Any, table: str) -> None:
        self.conn = conn
        self.table = table

    def _sql(self, filtered: bool, with_vector: bool = False) -> str:
        where = "embedding IS NOT NULL" + (" AND category = %s" if filtered else "")
        vector = "embedding, " if with_vector else ""
        return (
            f"SELECT id, category, {vector}(embedding <=> %s) AS vector_distance, "
            f"1.0 - (embedding <=> %s) AS vector_score FROM {self.table} WHERE {where} "
            "ORDER BY vector_distance LIMIT %s"
        )

    def _settings(self, ef_search: int, iterative: str, force_index: bool = False) -> None:
        self.conn.execute(
            "SELECT set_config('hnsw.ef_search', %s, true), "
            "set_config('plan_cache_mode', 'force_custom_plan', true), "
            "set_config('hnsw.iterative_scan', %s, true), "
            "set_config('enable_seqscan', %s, true)",
            [str(ef_search), iterative, "off" if force_index else "on"],
        )

    def search(
        self,
        q: np.ndarray,
        *,
        category: int | None = None,
        iterative: str = "relaxed_order",
        ef_search: int = EF_SEARCH,
        force_index: bool = False,
        with_vector: bool = False,
    ) -> list[int]:
        params: list[Any] = [q, q] + ([category] if category is not None else []) + [TOP_K]
        statement = self._sql(category is not None, with_vector)
        if (ef_search, iterative, force_index) == (EF_SEARCH, "relaxed_order", False):
            # The session already runs with these settings: the query alone, one round trip
            # (what vector_search does too).
            rows = self.conn.execute(statement, params, prepare=False).fetchall()
        else:
            with self.conn.transaction():
                self._settings(ef_search, iterative, force_index)
                rows = self.conn.execute(statement, params).fetchall()
        if iterative == "relaxed_order":
            rows.sort(key=lambda r: r[-2])
        return [r[0] for r in rows]

    def plan(
        self,
        q: np.ndarray,
        *,
        category: int | None = None,
        iterative: str = "off",
        force_index: bool = False,
    ) -> list[str]:
        params: list[Any] = [q, q] + ([category] if category is not None else []) + [TOP_K]
        with self.conn.transaction():
            self._settings(EF_SEARCH, iterative, force_index)
            rows = self.conn.execute(
                "EXPLAIN (COSTS OFF) " + self._sql(category is not None), params
            ).fetchall()
        return [shorten(r[0]) for r in rows]

    def explain(
        self, statement: str, *, iterative: str = "off", ef_search: int = EF_SEARCH
    ) -> list[str]:
        with self.conn.transaction():
            self._settings(ef_search, iterative)
            rows = self.conn.execute("EXPLAIN (COSTS OFF) " + statement).fetchall()
        return [shorten(r[0]) for r in rows]


def run_modes(modes: dict[str, Any], inputs: list[Any], exact: list[list[int]]) -> dict[str, Any]:
    """Every input through every mode, the mode order rotated per input; latency and recall."""
    names = list(modes)
    times: dict[str, list[float]] = {name: [] for name in names}
    recall: dict[str, list[float]] = {name: [] for name in names}
    rows: dict[str, list[int]] = {name: [] for name in names}
    for j, (item, truth) in enumerate(zip(inputs, exact, strict=True)):
        order = names[j % len(names) :] + names[: j % len(names)]
        for name in order:
            start = time.perf_counter()
            ids = modes[name](item)
            times[name].append(time.perf_counter() - start)
            recall[name].append(len(set(ids) & set(truth)) / TOP_K)
            rows[name].append(len(ids))
    out = {}
    for name in names:
        ms = [t * 1000 for t in times[name]]
        out[name] = {
            "latency_ms": {
                "p50": round(common.percentile(ms, 50), 3),
                "p95": round(common.percentile(ms, 95), 3),
                "mean": round(sum(ms) / len(ms), 3),
            },
            "recall_at_10": round(float(np.mean(recall[name])), 4),
            "recall_min": round(float(np.min(recall[name])), 2),
            "rows": {
                "min": int(min(rows[name])),
                "mean": round(float(np.mean(rows[name])), 2),
                "queries_with_10": int(sum(1 for r in rows[name] if r == TOP_K)),
            },
        }
        say(
            f"  {name:<22} p50 {out[name]['latency_ms']['p50']:7.2f} ms  "
            f"p95 {out[name]['latency_ms']['p95']:7.2f} ms  "
            f"recall@10 {out[name]['recall_at_10']:.3f}  rows min {out[name]['rows']['min']}"
        )
    return out


# -- output -------------------------------------------------------------------------------------


def markdown(report: dict[str, Any]) -> str:
    b = report["build"]
    build = (
        "reused from an earlier run (same data)"
        if b.get("reused")
        else f"binary COPY {b['copy_s']} s ({b['copy_vectors_per_sec']:,.0f} vectors/s), "
        f"HNSW build {b['index_build_s']} s with {b['index_settings']}"
    )

    def table(section: dict[str, Any]) -> str:
        total = report["queries"] if "raw_sql" in section else report["filtered_queries"]
        return common.md_table(
            [
                "mode",
                "p50 ms",
                "p95 ms",
                "mean ms",
                "recall@10",
                "min recall",
                "rows min / mean",
                "queries with 10 rows",
            ],
            [
                [
                    f"`{name}`",
                    f"{r['latency_ms']['p50']:.2f}",
                    f"{r['latency_ms']['p95']:.2f}",
                    f"{r['latency_ms']['mean']:.2f}",
                    f"{r['recall_at_10']:.3f}",
                    f"{r['recall_min']:.1f}",
                    f"{r['rows']['min']} / {r['rows']['mean']:.1f}",
                    f"{r['rows']['queries_with_10']}/{total}",
                ]
                for name, r in section.items()
            ],
        )

    t = report["targets"]
    lat, flt = t["latency"], t["filtered"]
    lines = [
        "# Search",
        "",
        f"{report['vectors']:,} vectors of {report['dimension']} dimensions in "
        f"{report['clusters']} gaussian clusters (seeded), cosine, HNSW m={report['hnsw']['m']} "
        f"ef_construction={report['hnsw']['ef_construction']}, top-{report['top_k']}, "
        f"hnsw.ef_search={report['ef_search']} unless stated. Queries are new points drawn "
        "from the same clusters; recall@10 is against exact search (numpy brute force over "
        "the same float32 vectors). Modes run interleaved, query by query. "
        f"Load: {build}.",
        "",
        common.md_machine(report),
        "",
        f"## Unfiltered ({report['queries']} queries after {report['warmup_queries']} warm-up)",
        "",
        table(report["unfiltered"]),
        "",
        f"Target `vector_search` p50 <= raw SQL p50 + 0.5 ms: {lat['vector_search_p50_ms']:.2f} "
        f"vs {lat['raw_sql_p50_ms']:.2f} ms, overhead {lat['overhead_ms']:.2f} ms: "
        f"**{'met' if lat['met'] else 'missed'}**. With the vectors loaded "
        f"(`include_values=True` against raw SQL selecting `embedding`): "
        f"{lat['vector_search_values_p50_ms']:.2f} vs {lat['raw_sql_values_p50_ms']:.2f} ms, "
        f"overhead {lat['overhead_values_ms']:.2f} ms: "
        f"**{'met' if lat['met_values'] else 'missed'}**.",
        "",
        f"## Filtered at 1 % selectivity ({report['filtered_queries']} queries; each category "
        f"matches at least {flt['matching_rows_min']} rows; the category column has no index)",
        "",
        table(report["filtered"]),
        "",
        f"Target recall@10 >= 0.95 and always 10 rows (`vector_search_filter`): recall "
        f"{flt['recall_at_10']:.3f}, fewest rows {flt['min_rows']}: "
        f"**{'met' if flt['met'] else 'missed'}**.",
        "",
        *client_lines(t.get("client"), report.get("concurrency"), report.get("session_options")),
        "## Plans",
        "",
        *[
            f"- `{name}`: "
            + (
                " / ".join(f"`{line.strip()}`" for line in plan)
                if isinstance(plan, list)
                else f"`{plan}`"
            )
            for name, plan in report["plans"].items()
        ],
        "",
        "Modes:",
        "",
        *[f"- `{name}`: {text}" for name, text in report["modes"].items()],
    ]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Any) -> None:
    plt = common.pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, key, title in (
        (axes[0], "unfiltered", "unfiltered"),
        (axes[1], "filtered", "filtered at 1 %"),
    ):
        section = report[key]
        names = list(section)
        p50 = [section[n]["latency_ms"]["p50"] for n in names]
        p95 = [section[n]["latency_ms"]["p95"] for n in names]
        x = np.arange(len(names))
        ax.bar(x - 0.2, p50, 0.4, label="p50")
        ax.bar(x + 0.2, p95, 0.4, label="p95")
        for i, n in enumerate(names):
            ax.text(
                i,
                p95[i],
                f"R={section[n]['recall_at_10']:.3f}",
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("latency (ms)")
        ax.set_title(f"{report['vectors']:,} x {report['dimension']}-d, {title}")
        ax.legend()
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    say(f"wrote {path}")


if __name__ == "__main__":
    main()
