"""Keyword and hybrid search: what fusing the two legs buys in quality, and what it costs.

- **Quality**, a known-item task on a real corpus, the demo's (the standard library's
  docstrings, ``example_project/documents/corpus.py``): each query is one sentence of an
  entry (the readable sentence nearest its middle, never its first; entries sampled with a
  seed), and that entry is the one relevant document. MRR@10 and recall@10 of
  ``text_search`` (the sentence as typed), ``vector_search`` (the sentence embedded) and
  ``hybrid_search`` (both, fused by Reciprocal Rank Fusion) at a few ``rrf_k`` / weights
  settings; the share of queries whose keyword leg finds nothing (every word must occur).
  Vectors from sentence-transformers' all-MiniLM-L6-v2 when that extra is installed, else
  ``HashingEmbedder``. Exact vector search (no ANN index at this size), so the figures
  are the ranking's alone and the same on every run.
- **Latency** on 100K rows (the corpus repeated, each copy with words dropped and others
  drawn from the corpus vocabulary, seeded; ``HashingEmbedder`` vectors of 384
  dimensions; the GIN and HNSW indexes built after the load, as a bulk load would):
  p50 / p95 and single-client QPS of the three searches interleaved query by query, then
  the SQL each compiled sent by hand (interleaved too), for the known-item sentences and
  for two-word queries taken from them; the ``EXPLAIN`` of the keyword leg (does it read
  the GIN index, or compute ``to_tsvector`` per row?).

At 100K rows the embedded server gets ``shared_buffers = 1GB`` (ALTER SYSTEM + restart).
The grown table is kept and reused by the next run when its fingerprint matches.

    python benchmarks/hybrid.py [--quick] [--rows N] [--queries N] [--rebuild]
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import common
import numpy as np
from common import say
from pgvector.psycopg import register_vector
from psycopg import sql
from search_client import SESSION_OPTIONS

DIMENSION = common.DIMENSION
TOP_K = 10
SEED = 20_250_310
HNSW = {"m": 16, "ef_construction": 64}
DROP, SWAP = 0.10, 0.10  # per word of a copy: dropped, or replaced by a corpus word
TARGET_RATIO = 1.5
# Hybrid settings of the quality sweep: (label, keyword arguments of hybrid_search).
SWEEP: tuple[tuple[str, dict[str, Any]], ...] = (
    ("hybrid", {}),
    ("hybrid_k10", {"rrf_k": 10}),
    ("hybrid_text_x2", {"weights": (1.0, 2.0)}),
    ("hybrid_vector_x2", {"weights": (2.0, 1.0)}),
    ("hybrid_c100", {"candidates": 100}),
)


@dataclass(frozen=True)
class Known:
    """One known-item query: the sentence, two of its words, and the entry it came from."""

    pk: int
    sentence: str
    words: str


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=None, help="rows of the latency table (100K)")
    p.add_argument("--queries", type=int, default=None, help="known-item queries (500)")
    p.add_argument("--rebuild", action="store_true", help="reload the latency table")
    args = p.parse_args()
    started = time.perf_counter()
    rows = args.rows or (5_000 if args.quick else 100_000)
    n_quality = args.queries or (100 if args.quick else 500)
    n_speed, warmup = (30, 5) if args.quick else (300, 30)

    server = common.locate_server(args)
    if rows >= 100_000:
        server.ensure_shared_buffers("1GB")
    common.prepare_database(server)
    common.setup_django(server, session_options=SESSION_OPTIONS)
    report = common.header("hybrid", args, server)
    from bench_app.models import HybridBulkDoc, HybridCorpusDoc

    entries = corpus()
    known = known_items(entries, n_quality)
    say(f"corpus: {len(entries):,} entries, {len(known)} known-item queries")
    embedder, embedder_name = quality_embedder()
    load_corpus(server, HybridCorpusDoc, entries, embedder)
    quality = run_quality(HybridCorpusDoc, known, embedder)
    hashing = hashing_embedder()
    build = load_bulk(server, HybridBulkDoc, entries, rows, args)
    # Latency needs a direction for every query: a text the embedder knows nothing of is
    # left out (the quality figures count it as a vector miss).
    speed_known = [k for k in known if embeddable(hashing, k)][: n_speed + warmup]
    speed = run_speed(server, HybridBulkDoc, speed_known, hashing, warmup)
    plans = explain_all(server, HybridBulkDoc, speed_known[warmup], hashing)
    report.update(
        corpus={"entries": len(entries), "python": report["machine"]["python"]},
        quality_embedder=embedder_name,
        speed_embedder=repr(hashing),
        queries=quality["queries"],
        rows=rows,
        dimension=DIMENSION,
        hnsw=HNSW,
        top_k=TOP_K,
        quality=quality,
        build=build,
        speed=speed,
        plans=plans,
        statements=statement_count(HybridBulkDoc, speed_known[warmup], hashing),
    )
    report["targets"] = targets(quality, speed, plans)
    common.finish(report, started)
    out = args.output_dir
    common.write_json(out / "hybrid.json", report)
    common.write_markdown(out / "hybrid.md", markdown(report))
    say(f"wrote {out / 'hybrid.json'} and .md ({report['duration_s']} s)")


# -- the corpus and its queries -------------------------------------------------------------


def corpus() -> list[Any]:
    """The demo's corpus (the running Python's standard-library docstrings), in its order."""
    from example_project.documents.corpus import iter_corpus

    return list(iter_corpus())


def document_text(title: str, content: str) -> str:
    """What gets embedded: the demo's shape, the qualified name twice, then the text."""
    return f"{title}\n{title}\n{content}"


PARAGRAPH = re.compile(r"\n\s*\n")
SENTENCE_END = re.compile(r"(?<=[a-z0-9)\]'\"`][.!?])\s+(?=[A-Z])")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def sentences(content: str) -> list[str]:
    """The prose sentences of a docstring; indented blocks (code, tables) are left out."""
    found = []
    for paragraph in PARAGRAPH.split(content):
        lines = paragraph.splitlines()
        if any(line.startswith((" ", "\t", ">>>")) for line in lines):
            continue
        found += SENTENCE_END.split(" ".join(paragraph.split()))
    return [s for s in found if s]


def readable(sentence: str) -> bool:
    """A sentence someone could type as a query: 6-30 words, mostly letters, no code."""
    words = sentence.split()
    letters = sum(c.isalpha() or c.isspace() for c in sentence)
    return (
        6 <= len(words) <= 30
        and sentence[0].isupper()
        and sentence.endswith(".")
        and letters >= 0.85 * len(sentence)
        and "::" not in sentence
    )


def middle_sentence(content: str) -> str | None:
    """The readable sentence nearest the middle, never the first (the summary line,
    which other entries often repeat); ``None`` when there is none."""
    found = sentences(content)
    middle = len(found) / 2
    options = [(abs(i - middle), i) for i in range(1, len(found)) if readable(found[i])]
    return found[min(options)[1]] if options else None


def known_items(entries: Sequence[Any], count: int) -> list[Known]:
    """``count`` known-item queries from entries sampled with the seed; a sentence found in
    another entry too is left out (its relevant document would be ambiguous)."""
    hashing = hashing_embedder()

    def knows(word: str) -> bool:
        return bool(hashing.embed_one(word).any())

    flat = [" ".join(e.content.split()) for e in entries]
    whole = "\x00".join(flat)
    candidates = []
    for i, entry in enumerate(entries):
        sentence = middle_sentence(entry.content)
        if sentence and whole.count(sentence) == flat[i].count(sentence):
            candidates.append((i, sentence))
    rng = np.random.default_rng(SEED)
    picked = sorted(rng.choice(len(candidates), min(count, len(candidates)), replace=False))
    known = []
    for j in picked:
        index, sentence = candidates[j]
        words = two_words(rng, sentence, knows)
        known.append(Known(pk=index + 1, sentence=sentence, words=words))
    return known


def two_words(rng: np.random.Generator, sentence: str, knows: Callable[[str], bool]) -> str:
    """Two distinct words of four letters or more, in sentence order, that are no stop
    words (``knows``: the embedder gives them a direction): a search-box query."""
    words = list(dict.fromkeys(w.lower() for w in WORD.findall(sentence)))
    words = [w for w in words if len(w) >= 4 and knows(w)] or words
    chosen = sorted(rng.choice(len(words), min(2, len(words)), replace=False))
    return " ".join(words[i] for i in chosen)


def any_word(text: str) -> str:
    """The same words, any of which may match (websearch syntax: ``a or b or c``)."""
    return " or ".join(WORD.findall(text))


# -- embedders ------------------------------------------------------------------------------


def embeddable(embedder: Any, k: Known) -> bool:
    return bool(embedder.embed_one(k.sentence).any() and embedder.embed_one(k.words).any())


def hashing_embedder() -> Any:
    from vectra_django.embedders import HashingEmbedder

    return HashingEmbedder(DIMENSION)


def quality_embedder() -> tuple[Any, str]:
    """sentence-transformers' all-MiniLM-L6-v2 when installed: a real model's vectors
    are what hybrid search is usually fused with; else the hashing embedder."""
    import importlib.util

    if importlib.util.find_spec("sentence_transformers") is not None:
        from vectra_django.embedders import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder("all-MiniLM-L6-v2")
        return embedder, "sentence-transformers all-MiniLM-L6-v2 (384 dimensions)"
    embedder = hashing_embedder()
    return embedder, f"{embedder!r} (sentence-transformers is not installed)"


# -- loading --------------------------------------------------------------------------------


def copy_rows(
    conn: Any, table: str, rows: Iterator[tuple[str, str]], embedder: Any, batch: int = 2000
) -> int:
    """Binary COPY of ``(title, content)`` rows with their vectors, embedded batch by batch;
    PostgreSQL computes the keyword column. Primary keys are row numbers + 1."""
    pk = 0
    with (
        conn.cursor() as cur,
        cur.copy(
            f"COPY {table} (id, title, content, embedding) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["int8", "text", "text", "vector"])
        for chunk in common.batched(list(rows), batch):
            vectors = embedder.embed([document_text(t, c) for t, c in chunk])
            for (title, content), vector in zip(chunk, vectors, strict=True):
                pk += 1
                copy.write_row((pk, title, content, vector))
    conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {pk + 1})")
    return pk


def load_corpus(server: common.Server, model: Any, entries: Sequence[Any], embedder: Any) -> None:
    """The corpus once, keyword column and GIN index included; no ANN index (exact)."""
    common.recreate_table(model)
    table = model._meta.db_table
    with server.connect(autocommit=True) as conn:
        register_vector(conn)
        copy_rows(conn, table, ((e.title, e.content) for e in entries), embedder)
        conn.execute(f"VACUUM ANALYZE {table}")


def grown(entries: Sequence[Any], n: int) -> Iterator[tuple[str, str]]:
    """``n`` rows: the corpus, then copies of it, each word of a copy dropped (10 %) or
    swapped for a word drawn from the corpus's own word frequencies (10 %), seeded."""
    rng = np.random.default_rng(SEED)
    vocabulary = [w for e in entries for w in e.content.split()]
    for i in range(n):
        entry = entries[i % len(entries)]
        if i < len(entries):
            yield entry.title, entry.content
            continue
        words = entry.content.split()
        draw = rng.random(len(words))
        swaps = rng.integers(0, len(vocabulary), len(words))
        kept = [
            vocabulary[s] if d < DROP + SWAP else w
            for w, d, s in zip(words, draw, swaps, strict=True)
            if d >= DROP
        ]
        yield entry.title, " ".join(kept)


def fingerprint(entries: Sequence[Any], n: int) -> str:
    titles = zlib.crc32("\n".join(e.title for e in entries).encode())
    return (
        f"vectra-hybrid n={n} d={DIMENSION} seed={SEED} corpus={len(entries)}:{titles:08x} "
        f"drop={DROP} swap={SWAP} hashing"
    )


def load_bulk(
    server: common.Server, model: Any, entries: Sequence[Any], n: int, args: Any
) -> dict[str, Any]:
    """The latency table: grown rows, then the GIN and HNSW indexes; reused when it matches
    (the table's comment keeps the fingerprint and the figures of the run that built it)."""
    table, mark = model._meta.db_table, fingerprint(entries, n)
    hnsw = f"{table}_hnsw"
    with server.connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT obj_description(to_regclass(%s), 'pg_class'), to_regclass(%s) IS NOT NULL",
            [table, hnsw],
        ).fetchone()
        stored, _, figures = (row[0] or "").partition(" | ") if row else ("", "", "")
        if stored == mark and row[1] and not args.rebuild:
            say(f"reusing {table} ({mark})")
            prewarm(conn, table)
            return {**json.loads(figures or "{}"), "reused": True}
    common.recreate_table(model)
    with server.connect(autocommit=True) as conn:
        register_vector(conn)
        gin = drop_gin(conn, table)
        say(f"loading {n:,} rows (embedding them with the hashing embedder)")
        start = time.perf_counter()
        copy_rows(conn, table, grown(entries, n), hashing_embedder())
        build = {"load_s": round(time.perf_counter() - start, 2)}
        build.update(build_indexes(conn, table, hnsw, gin, quick=args.quick))
        conn.execute(f"VACUUM ANALYZE {table}")
        comment = f"{mark} | {json.dumps(build)}"
        conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(sql.Identifier(table), comment))
        prewarm(conn, table)
    say(f"loaded in {build['load_s']} s; GIN {build['gin_s']} s, HNSW {build['hnsw_s']} s")
    return {**build, "reused": False}


def drop_gin(conn: Any, table: str) -> str:
    """Drop the keyword column's GIN index before a bulk load; its definition, to rebuild."""
    name, definition = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
        "AND indexdef LIKE '%%USING gin%%'",
        [table],
    ).fetchone()
    conn.execute(f'DROP INDEX "{name}"')
    return definition


def build_indexes(conn: Any, table: str, hnsw: str, gin: str, *, quick: bool) -> dict[str, Any]:
    settings = {"max_parallel_maintenance_workers": "1"}
    if not quick:
        settings["maintenance_work_mem"] = "1GB"
    for name, value in settings.items():
        conn.execute("SELECT set_config(%s, %s, false)", [name, value])
    start = time.perf_counter()
    conn.execute(gin)
    gin_s = time.perf_counter() - start
    say(f"building the HNSW index (m={HNSW['m']}, ef_construction={HNSW['ef_construction']})")
    start = time.perf_counter()
    conn.execute(
        f"CREATE INDEX {hnsw} ON {table} USING hnsw (embedding vector_cosine_ops) "
        f"WITH (m = {HNSW['m']}, ef_construction = {HNSW['ef_construction']})"
    )
    return {
        "gin_s": round(gin_s, 2),
        "hnsw_s": round(time.perf_counter() - start, 2),
        "index_settings": settings,
    }


def prewarm(conn: Any, table: str) -> None:
    """The table and its indexes into shared buffers, so timed queries read no disk."""
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        conn.execute(
            "SELECT pg_prewarm(c.oid) FROM pg_class c WHERE c.oid = to_regclass(%s) "
            "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = to_regclass(%s))",
            [table, table],
        )
    except Exception as exc:  # optional: the warm-up queries do the rest
        say(f"pg_prewarm unavailable ({exc}); relying on warm-up queries")


# -- the searches ---------------------------------------------------------------------------


Search = Callable[[Known, np.ndarray], list[int]]
Build = Callable[[Known, np.ndarray], Any]


def querysets(model: Any, words: bool = False) -> dict[str, Build]:
    """The three searches as the caller writes them; ``words``: the two-word query."""
    objects = model.objects

    def text(k: Known) -> str:
        return k.words if words else k.sentence

    return {
        "vector_search": lambda k, v: objects.vector_search(v, limit=TOP_K),
        "hybrid_search": lambda k, v: objects.hybrid_search(text(k), vector=v, limit=TOP_K),
        "text_search": lambda k, v: objects.text_search(text(k), limit=TOP_K),
    }


def pks(results: Any) -> list[int]:
    return [obj.pk for obj in results]


def quality_modes(model: Any) -> dict[str, Search]:
    """The legs alone, the hybrid sweep, and the sentence's words with ``or`` between."""
    objects = model.objects
    modes: dict[str, Search] = {
        "text_search": lambda k, v: pks(objects.text_search(k.sentence, limit=TOP_K)),
        "vector_search": lambda k, v: pks(nearest(objects, v)),
    }
    for label, options in SWEEP:
        modes[label] = lambda k, v, o=options: pks(hybrid(objects, k.sentence, v, **o))
    modes["text_search_any_word"] = lambda k, v: pks(
        objects.text_search(any_word(k.sentence), limit=TOP_K)
    )
    modes["hybrid_any_word"] = lambda k, v: pks(hybrid(objects, any_word(k.sentence), v))
    return modes


def nearest(objects: Any, vector: np.ndarray) -> Any:
    """``vector_search``; nothing for a zero vector (a text the embedder knows no word of),
    which has no direction to search in."""
    return objects.vector_search(vector, limit=TOP_K) if vector.any() else []


def hybrid(objects: Any, text: str, vector: np.ndarray, **options: Any) -> Any:
    """``hybrid_search``; for a zero vector the keyword leg alone, as ``hybrid_search`` does
    itself when its embedder finds nothing in the text."""
    if not vector.any():
        options["weights"] = (0.0, options.get("weights", (1.0, 1.0))[1])
        return objects.hybrid_search(text, limit=TOP_K, **options)
    return objects.hybrid_search(text, vector=vector, limit=TOP_K, **options)


def run_quality(model: Any, known: Sequence[Known], embedder: Any) -> dict[str, Any]:
    """Rank of the relevant entry in each mode's top 10: MRR@10, recall@10, empty results."""
    say(f"quality: {len(known)} queries")
    vectors = embedder.embed([k.sentence for k in known])
    modes = quality_modes(model)
    ranks: dict[str, list[int | None]] = {name: [] for name in modes}
    empty: dict[str, list[str]] = {name: [] for name in modes}
    for k, vector in zip(known, vectors, strict=True):
        for name, search in modes.items():
            found = search(k, vector)
            ranks[name].append(found.index(k.pk) + 1 if k.pk in found else None)
            if not found:
                empty[name].append(k.sentence)
    out: dict[str, Any] = {"queries": len(known), "modes": {}}
    for name in modes:
        out["modes"][name] = scores(ranks[name], len(empty[name]))
        m = out["modes"][name]
        say(f"  {name:<22} MRR@10 {m['mrr_at_10']:.3f}  recall@10 {m['recall_at_10']:.3f}")
    out["keyword_empty_fraction"] = out["modes"]["text_search"]["empty_fraction"]
    out["keyword_empty"] = why_empty(empty["text_search"])
    return out


def why_empty(texts: Sequence[str]) -> dict[str, Any]:
    """Why a sentence taken from a document finds nothing: web-search syntax reads a word
    after a hyphen (``the -l option``) as "not", and some tokens (URLs) parse differently
    as a query than inside a document."""
    from django.db import connection

    negated = []
    with connection.cursor() as cur:
        for text in texts:
            cur.execute("SELECT websearch_to_tsquery('english', %s)::text", [text])
            negated.append("!" in cur.fetchone()[0])
    return {
        "count": len(texts),
        "with_negation": sum(negated),
        "examples": list(texts[:5]),
    }


def scores(ranks: Sequence[int | None], empty: int) -> dict[str, Any]:
    n = len(ranks)
    return {
        "mrr_at_10": round(sum(1 / r for r in ranks if r) / n, 4),
        "recall_at_10": round(sum(1 for r in ranks if r) / n, 4),
        "top_1": round(sum(1 for r in ranks if r == 1) / n, 4),
        "empty_fraction": round(empty / n, 4),
    }


def run_speed(
    server: common.Server, model: Any, known: Sequence[Known], embedder: Any, warmup: int
) -> dict[str, dict[str, Any]]:
    """Latency of the three searches at this table size, for each query set, each beside
    its own SQL sent by hand (what the server and the round trip cost without Django)."""
    conn = server.connect(autocommit=True, options=SESSION_OPTIONS)
    register_vector(conn)
    out = {}
    for label, words in (("sentence", False), ("two_words", True)):
        vectors = embedder.embed([k.words if words else k.sentence for k in known])
        builds = querysets(model, words=words)
        statements, compile_ms = compile_all(builds, known, vectors)
        modes = speed_modes(conn, builds, statements, known, vectors)
        say(f"latency, {label} queries: {len(known) - warmup} per mode after {warmup} warm-up")
        # The ORM searches interleave among themselves and the hand-sent SQL among its own.
        # Mixed, every call switches server process (two connections), which added 0.2-0.3 ms
        # to every search alike and flattered the hybrid / vector ratio (1.6x against 1.7x).
        timings: dict[str, Any] = {}
        for by_hand in (False, True):
            group = {n: run for n, run in modes.items() if n.endswith("_sql") == by_hand}
            for j in range(warmup):
                for run in group.values():
                    run(j)
            timings.update(timed(group, range(warmup, len(known))))
        out[label] = {
            "modes": {name: timings[name] for name in modes},
            "compile_ms": compile_ms,
            "matching_rows": matching_rows(
                model, [k.words if words else k.sentence for k in known]
            ),
        }
    conn.close()
    return out


def matching_rows(model: Any, texts: Sequence[str]) -> dict[str, float]:
    """How many rows each keyword query matches: the keyword leg ranks every one of them
    (a GIN index finds rows but cannot rank them), so its latency follows this count."""
    from django.contrib.postgres.search import SearchQuery

    counts = [
        model.objects.filter(
            embedding_text_search=SearchQuery(text, config="english", search_type="websearch")
        ).count()
        for text in texts
    ]
    return {
        "p50": round(common.percentile(counts, 50), 1),
        "p95": round(common.percentile(counts, 95), 1),
        "max": max(counts),
    }


def compile_all(
    builds: dict[str, Build], known: Sequence[Known], vectors: np.ndarray
) -> tuple[dict[str, list[tuple[str, list[Any]]]], dict[str, float]]:
    """Each search's SQL per query, and the p50 of building and compiling it in Django
    (``vector_search`` skips that step through its per-shape statement cache)."""
    statements: dict[str, list[tuple[str, list[Any]]]] = {name: [] for name in builds}
    seconds: dict[str, list[float]] = {name: [] for name in builds}
    for k, v in zip(known, vectors, strict=True):
        for name, build in builds.items():
            start = time.perf_counter()
            statements[name].append(raw_statement(build(k, v)))
            seconds[name].append(time.perf_counter() - start)
    p50 = {name: round(common.percentile(t, 50) * 1000, 3) for name, t in seconds.items()}
    return statements, p50


def speed_modes(
    conn: Any,
    builds: dict[str, Build],
    statements: dict[str, list[tuple[str, list[Any]]]],
    known: Sequence[Known],
    vectors: np.ndarray,
) -> dict[str, Callable[[int], int]]:
    """Each search through the ORM (built, run, instances loaded), and its compiled SQL
    run by psycopg (the vector a binary parameter, unprepared); each returns its rows."""
    modes: dict[str, Callable[[int], int]] = {}
    for name, build in builds.items():
        modes[name] = lambda j, b=build: len(pks(b(known[j], vectors[j])))
        modes[f"{name}_sql"] = lambda j, q=statements[name]: len(
            conn.execute(q[j][0], q[j][1], prepare=False).fetchall()
        )
    return modes


def raw_statement(qs: Any) -> tuple[str, list[Any]]:
    """A search's SQL and parameters as psycopg takes them (query vectors as numpy)."""
    statement, params = qs.query.get_compiler(qs.db).as_sql()
    return statement, [getattr(p, "array", p) for p in params]


def timed(modes: dict[str, Callable[[int], int]], items: range) -> dict[str, Any]:
    """Every query through every mode, the order rotated per query, so load hits all alike."""
    names = list(modes)
    times: dict[str, list[float]] = {name: [] for name in names}
    rows: dict[str, list[int]] = {name: [] for name in names}
    for j in items:
        for name in names[j % len(names) :] + names[: j % len(names)]:
            start = time.perf_counter()
            found = modes[name](j)
            times[name].append(time.perf_counter() - start)
            rows[name].append(found)
    out = {name: latency(times[name], rows[name]) for name in names}
    for name, r in out.items():
        p50, p95, qps = r["p50_ms"], r["p95_ms"], r["qps"]
        say(f"  {name:<18} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  {qps:6.0f} QPS")
    return out


def latency(seconds: Sequence[float], rows: Sequence[int]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(common.percentile(ms, 50), 3),
        "p95_ms": round(common.percentile(ms, 95), 3),
        "mean_ms": round(sum(ms) / len(ms), 3),
        "qps": round(len(seconds) / sum(seconds), 1),
        "rows_mean": round(float(np.mean(rows)), 2),
        "empty_fraction": round(sum(1 for r in rows if r == 0) / len(rows), 4),
    }


# -- plans and statements -------------------------------------------------------------------


def compiled(qs: Any) -> str:
    """The SELECT a search sends, its parameters inlined (vectors shortened for reading)."""
    from django.db import connection

    statement, params = qs.query.get_compiler(qs.db).as_sql()
    return connection.ops.compose_sql(statement, params)


VECTOR_LITERAL = re.compile(r"'\[[-0-9.e, ]{40,}\]'")


def explain(server: common.Server, statement: str) -> list[str]:
    """The plan as run the second time on one session: the first run's planning time is
    mostly filling the session's catalog caches, which a pooled connection has done."""
    with server.connect(autocommit=True, options=SESSION_OPTIONS) as conn:
        for _ in range(2):
            rows = conn.execute(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, BUFFERS OFF) " + statement
            ).fetchall()
    return [VECTOR_LITERAL.sub("'[...]'", r[0]) for r in rows]


def explain_all(server: common.Server, model: Any, k: Known, embedder: Any) -> dict[str, Any]:
    """Plans of the keyword search (both query shapes) and of one hybrid search."""
    objects = model.objects
    plans: dict[str, Any] = {}
    for label, text in (("sentence", k.sentence), ("two_words", k.words)):
        lines = explain(server, compiled(objects.text_search(text, limit=TOP_K)))
        plans[f"text_search_{label}"] = {"query": text, "plan": lines, **gin_verdict(lines)}
    vector = embedder.embed_one(k.words)
    lines = explain(server, compiled(objects.hybrid_search(k.words, vector=vector, limit=TOP_K)))
    plans["hybrid_search_two_words"] = {
        "query": k.words,
        "plan": lines,
        **gin_verdict(lines),
        "uses_hnsw": any("Index Scan using" in x and "_hnsw" in x for x in lines),
    }
    return plans


GIN_SCAN = re.compile(r"Bitmap Index Scan on \S+_gin\b")


def gin_verdict(lines: Sequence[str]) -> dict[str, bool]:
    gin = any(GIN_SCAN.search(line) for line in lines)
    per_row = any("to_tsvector" in line for line in lines)
    return {"uses_gin": gin, "to_tsvector_per_row": per_row, "ok": gin and not per_row}


def statement_count(model: Any, k: Known, embedder: Any) -> dict[str, int]:
    """SQL statements one ``hybrid_search`` sends: the search, plus any settings statement
    sent with it in one pipelined transaction."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    vector = embedder.embed_one(k.sentence)
    with CaptureQueriesContext(connection) as captured:
        pks(model.objects.hybrid_search(k.sentence, vector=vector, limit=TOP_K))
    settings = sum(1 for q in captured.captured_queries if "set_config" in q["sql"])
    return {"search": len(captured) - settings, "settings": settings}


# -- targets and output ---------------------------------------------------------------------


def targets(quality: dict, speed: dict, plans: dict) -> dict[str, Any]:
    m = quality["modes"]
    out: dict[str, Any] = {
        "quality": {
            "target": "hybrid_search MRR@10 above both text_search and vector_search",
            "hybrid": m["hybrid"]["mrr_at_10"],
            "text": m["text_search"]["mrr_at_10"],
            "vector": m["vector_search"]["mrr_at_10"],
            "met": m["hybrid"]["mrr_at_10"]
            > max(m["text_search"]["mrr_at_10"], m["vector_search"]["mrr_at_10"]),
        },
        "latency": {},
        "plan": {
            "target": "the keyword leg reads the GIN index, no to_tsvector per row",
            "met": all(p["ok"] for p in plans.values()),
        },
    }
    for label, section in speed.items():
        modes = section["modes"]
        ratio = modes["hybrid_search"]["p50_ms"] / modes["vector_search"]["p50_ms"]
        alone = modes["hybrid_search_sql"]["p50_ms"] / modes["vector_search_sql"]["p50_ms"]
        out["latency"][label] = {
            "target": f"hybrid_search p50 <= {TARGET_RATIO} x vector_search p50",
            "ratio": round(ratio, 3),
            "met": ratio <= TARGET_RATIO,
            "sql_ratio": round(alone, 3),
        }
    return out


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def quality_table(report: dict[str, Any]) -> str:
    rows = [
        [
            f"`{name}`",
            f"{r['mrr_at_10']:.3f}",
            f"{r['recall_at_10']:.3f}",
            f"{r['top_1']:.3f}",
            f"{r['empty_fraction']:.1%}",
        ]
        for name, r in report["quality"]["modes"].items()
    ]
    return common.md_table(["mode", "MRR@10", "recall@10", "top 1", "no results"], rows)


def speed_table(modes: dict[str, Any]) -> str:
    rows = [
        [
            f"`{name}`",
            f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            f"{r['qps']:,.0f}",
            f"{r['rows_mean']:.1f}",
            f"{r['empty_fraction']:.1%}",
        ]
        for name, r in modes.items()
    ]
    headers = ["mode", "p50 ms", "p95 ms", "QPS (1 client)", "rows (mean)", "no results"]
    return common.md_table(headers, rows)


def plan_lines(plans: dict[str, Any]) -> list[str]:
    out = []
    for name, p in plans.items():
        gin = "reads the GIN index" if p["uses_gin"] else "does **not** read the GIN index"
        per_row = ", computes `to_tsvector` per row" if p["to_tsvector_per_row"] else ""
        hnsw = ""
        if "uses_hnsw" in p:
            hnsw = "; its vector leg " + ("reads" if p["uses_hnsw"] else "does **not** read")
            hnsw += " the HNSW index"
        out += [f"`{name}` (`{p['query']}`): {gin}{per_row}{hnsw}.", "", "```"]
        out += [*p["plan"], "```", ""]
    return out


def statements_line(stmts: dict[str, int]) -> str:
    if not stmts["settings"]:
        return f"One `hybrid_search` sends {stmts['search']} SQL statement and nothing else."
    return (
        f"One `hybrid_search` sends {stmts['search']} SQL statement, plus "
        f"{stmts['settings']} settings statement pipelined with it in one round trip."
    )


def markdown(report: dict[str, Any]) -> str:
    t, q = report["targets"], report["quality"]
    b, empty = report["build"], report["quality"]["keyword_empty"]
    build = (
        f"binary COPY with embedding {b['load_s']} s, GIN build {b['gin_s']} s, "
        f"HNSW build {b['hnsw_s']} s with {b['index_settings']}"
        if "load_s" in b
        else "an earlier run's table (same data)"
    )
    if b["reused"] and "load_s" in b:
        build = f"the table an earlier run built ({build})"
    lines = [
        "# Keyword and hybrid search",
        "",
        f"Known-item quality on the demo's corpus ({report['corpus']['entries']:,} "
        f"standard-library docstrings, Python {report['corpus']['python']}): each query is "
        "one sentence of an entry (the readable sentence nearest its middle, never the first; "
        "a sentence found in two entries is left out), the relevant document is that entry. "
        f"{q['queries']} queries, top {report['top_k']}, exact vector search. Vectors: "
        f"{report['quality_embedder']}. `hybrid_search` gets the same query vector as "
        "`vector_search`; keyword queries use `websearch_to_tsquery('english', ...)`, so every "
        "word must occur.",
        "",
        common.md_machine(report),
        "",
        "## Quality",
        "",
        quality_table(report),
        "",
        f"The keyword leg found nothing for **{q['keyword_empty_fraction']:.1%}** of the "
        f"sentences ({empty['count']} of {q['queries']}). Every word must occur, and the "
        "sentence's own entry has them all; what fails is web-search syntax: "
        f'{empty["with_negation"]} of them contain a hyphenated token read as "not" (`the '
        "-l option`, `between -1 and +1`), the rest tokens such as URLs that parse differently "
        "as a query than in a document. `*_any_word` runs the same "
        "words joined by `or`. Hybrid settings: `hybrid` is the default (`rrf_k=60`, weights "
        "1/1, 20 candidates per leg); `k10` is `rrf_k=10`; `text_x2` / `vector_x2` weigh one "
        "leg double; `c100` ranks 100 candidates per leg.",
        "",
        f"Target: hybrid MRR@10 above both legs: {t['quality']['hybrid']:.3f} against "
        f"{t['quality']['text']:.3f} (text) and {t['quality']['vector']:.3f} (vector): "
        f"{verdict(t['quality']['met'])}.",
        "",
        f"## Latency at {report['rows']:,} rows",
        "",
        f"The corpus repeated to {report['rows']:,} rows, each copy with 10 % of its words "
        "dropped and 10 % replaced by words drawn from the corpus (seeded); "
        f"{report['speed_embedder']} vectors, cosine, HNSW m={report['hnsw']['m']} "
        f"ef_construction={report['hnsw']['ef_construction']} and the keyword GIN index, both "
        f"built after the load. Load: {build}. One client; the three ORM searches interleaved "
        "query by query, then the three `*_sql` modes, interleaved among themselves (the two "
        "run on two connections; mixed, switching between them added the same 0.2-0.3 ms to "
        "every search and flattened the ratios); "
        "query vectors embedded beforehand (not timed). The ORM modes build the "
        "queryset and load instances; each `*_sql` mode sends the SQL its search compiled "
        "(built beforehand, untimed) with psycopg, the vector a binary parameter, unprepared. "
        "Every session runs `hnsw.iterative_scan=relaxed_order`, as in "
        f"[search.md](search.md). {statements_line(report['statements'])}",
        "",
    ]
    for label, section in report["speed"].items():
        lat, built = t["latency"][label], section["compile_ms"]
        matches = section["matching_rows"]
        title = "the known-item sentences" if label == "sentence" else "two words of each"
        lines += [
            f"### Queries: {title}",
            "",
            speed_table(section["modes"]),
            "",
            f"hybrid / vector p50: **{lat['ratio']:.2f}x** (target <= {TARGET_RATIO}x): "
            f"{verdict(lat['met'])}. The SQL alone: {lat['sql_ratio']:.2f}x. Building and "
            f"compiling a new shape's statement in Django (p50): `hybrid_search` "
            f"{built['hybrid_search']:.2f} ms, `text_search` {built['text_search']:.2f} ms; "
            "a repeated shape reuses its compiled statement, as `vector_search` does, so the "
            "figures above do not pay it. Rows matching the keyword query, which its leg "
            "ranks one by "
            f"one: p50 {matches['p50']:,.0f}, p95 {matches['p95']:,.0f}, max {matches['max']:,}.",
            "",
        ]
    lines += [
        "## Plans",
        "",
        f"Target: the keyword leg reads the GIN index and computes no `to_tsvector` per row: "
        f"{verdict(t['plan']['met'])}. `EXPLAIN (ANALYZE, COSTS OFF)` at "
        f"{report['rows']:,} rows, the second run on one session:",
        "",
        *plan_lines(report["plans"]),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
