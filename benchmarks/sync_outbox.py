"""What the transactional outbox costs: a ``bulk_create`` of synced rows (384-d, the memory
store, so the store itself costs least and the outbox's share shows most), three ways in the
same run, interleaved:

- ``direct``: the path before the outbox. ``bulk_create`` in a transaction, then after the
  commit one upsert of the in-memory objects' vectors and metadata (what ``on_commit`` sync
  did: nothing durable between the commit and the store write);
- ``outbox``: ``VECTRA_SYNC = "on_commit"`` today. The same ``bulk_create`` also records an
  outbox entry per row in its transaction; after the commit the entries are drained in
  batches (claim, lock, read the rows back in binary, upsert, delete the entries);
- ``no_sync``: the ``bulk_create`` alone, for scale.

Target: ``outbox`` <= 1.15 x ``direct`` at 10K rows.

    python benchmarks/sync_outbox.py           # 10K rows, 5 runs each
    python benchmarks/sync_outbox.py --quick   # a smoke run of seconds
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import common
import numpy as np
from common import say

ROWS = 10_000
TARGET = 1.15
METHODS = {
    "direct": "bulk_create in atomic(), then one upsert of the objects' vectors after commit "
    "(the path before the outbox)",
    "outbox": 'bulk_create in atomic() with VECTRA_SYNC = "on_commit": outbox entries in the '
    "transaction, drained after commit",
    "no_sync": "bulk_create in atomic(), no sync at all",
}


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    args = p.parse_args()
    started = time.perf_counter()
    rows, repeats = (500, args.repeats or 2) if args.quick else (ROWS, args.repeats or 5)
    server = common.locate_server(args)
    common.prepare_database(server)
    common.setup_django(server, {"bench_memory": {"PROVIDER": "memory"}})
    report = common.header("sync_outbox", args, server)

    from bench_app.models import OutboxDoc
    from django.conf import settings

    from vectra_django.models import SyncEntry

    common.recreate_table(OutboxDoc)
    common.recreate_table(SyncEntry)
    rng = np.random.default_rng(7)
    values = rng.standard_normal((rows, common.DIMENSION)).astype(np.float32)
    titles = [f"doc {i}" for i in range(rows)]
    runs: dict[str, list[float]] = {name: [] for name in METHODS}
    try:
        for name in ("outbox", "direct", "no_sync"):  # warm-up, untimed
            run(name, OutboxDoc, values[:200], titles[:200], settings)
        for _ in range(repeats):
            for name in METHODS:
                reset(OutboxDoc)
                start = time.perf_counter()
                run(name, OutboxDoc, values, titles, settings)
                runs[name].append(time.perf_counter() - start)
                check(name, OutboxDoc, SyncEntry, rows)
            say(" ".join(f"{n} {runs[n][-1]:.2f}s" for n in METHODS))
    finally:
        common.drop_table(OutboxDoc)
        common.drop_table(SyncEntry)

    results = {
        name: {
            "median_s": statistics.median(times),
            "min_s": min(times),
            "runs_s": [round(t, 4) for t in times],
            "rows_per_sec": rows / statistics.median(times),
        }
        for name, times in runs.items()
    }
    ratio = results["outbox"]["median_s"] / results["direct"]["median_s"]
    report.update(
        {
            "rows": rows,
            "dimension": common.DIMENSION,
            "repeats": repeats,
            "methods": METHODS,
            "results": results,
            "targets": {
                "outbox_over_direct": round(ratio, 3),
                "max": TARGET,
                "met": ratio <= TARGET,
            },
        }
    )
    common.finish(report, started)
    out = args.output_dir
    common.write_json(out / "sync_outbox.json", report)
    common.write_markdown(out / "sync_outbox.md", markdown(report))
    say(f"outbox / direct = {ratio:.3f} (target <= {TARGET}); wrote {out / 'sync_outbox.json'}")


def run(name: str, model: Any, values: np.ndarray, titles: list[str], settings: Any) -> None:
    from django.db import transaction

    from vectra_django import clients

    settings.VECTRA_SYNC = "on_commit" if name == "outbox" else "bench_app.sync.NoSync"
    objs = [
        model(title=t, category=i % 10, embedding=v)
        for i, (t, v) in enumerate(zip(titles, values, strict=True))
    ]
    with transaction.atomic():
        created = model.objects.bulk_create(objs, batch_size=1000)
    if name == "direct":
        from vectra_django.errors import NotFoundError

        vf = model._meta.get_field("embedding")
        client = clients[vf.provider]
        kwargs = {
            "ids": [o.vector_id for o in created],
            "values": np.asarray([o.embedding for o in created], dtype=np.float32),
            "metadata": [vf.metadata_for(o) for o in created],
        }
        try:
            client.upsert(vf.index_name, **kwargs)
        except NotFoundError:  # as the old path did: create the index on first write
            client.create_index(vf.index_name, vf.dimensions, vf.metric)
            client.upsert(vf.index_name, **kwargs)


def reset(model: Any) -> None:
    from django.db import connection

    from vectra_django import clients

    with connection.cursor() as cursor:
        cursor.execute(f'TRUNCATE "{model._meta.db_table}", "vectra_sync_outbox"')
    client = clients["bench_memory"]
    if client.index_exists("bench_outbox"):
        client.delete_index("bench_outbox")


def check(name: str, model: Any, entries: Any, rows: int) -> None:
    """Every method but ``no_sync`` must leave every row in the store, and no entry."""
    from vectra_django import clients

    client = clients["bench_memory"]
    stored = client.stats("bench_outbox")["vector_count"] if name != "no_sync" else rows
    left = entries.objects.count()
    if stored != rows or left:
        raise SystemExit(f"{name}: {stored} of {rows} vectors stored, {left} entries left")


def markdown(report: dict[str, Any]) -> str:
    results = report["results"]
    direct = results["direct"]["median_s"]
    table = common.md_table(
        ["method", "median s", "best s", "rows/s", "x direct"],
        [
            [
                name,
                f"{r['median_s']:.3f}",
                f"{r['min_s']:.3f}",
                f"{r['rows_per_sec']:,.0f}",
                f"{r['median_s'] / direct:.3f}",
            ]
            for name, r in results.items()
        ],
    )
    target = report["targets"]
    verdict = "met" if target["met"] else "NOT met"
    lines = [
        "# The outbox's cost on a synced bulk_create",
        "",
        f"{report['rows']:,} rows of {report['dimension']} dimensions, memory store, "
        f"median of {report['repeats']} interleaved runs.",
        "",
        table,
        "",
        f"outbox / direct = **{target['outbox_over_direct']}** (target <= {target['max']}: "
        f"{verdict}).",
        "",
        *(f"- `{k}`: {v}" for k, v in report["methods"].items()),
        "",
        common.md_machine(report),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
