"""One place that turns psycopg's errors (and Django's wrappers of them) into ours."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from ... import errors
from ...client.redaction import redact

# SQLSTATEs meaning the connection is gone or refused: class 08, shutdowns, too many clients.
_CONNECTION_STATES = {"57P01", "57P02", "57P03", "53300"}


@contextlib.contextmanager
def map_errors(
    index: str | None = None, *, in_transaction: bool = False, secret: str | None = None
) -> Iterator[None]:
    """Re-raise psycopg errors as :mod:`vectra_django.errors` types, ``from`` the original.

    When the caller was already inside a transaction the mapped error carries
    ``in_transaction = True``: retrying one statement of a failed transaction is wrong.
    ``secret`` (the password) is masked should the driver ever echo it.
    """
    try:
        yield
    except errors.VectraError:
        raise
    except Exception as exc:
        cause = exc if isinstance(exc, psycopg.Error) else exc.__cause__
        if not isinstance(cause, psycopg.Error | psycopg_pool.PoolTimeout):
            raise
        mapped = map_error(cause, index, secret)
        if in_transaction:
            mapped.in_transaction = True  # type: ignore[attr-defined]
        raise mapped from exc


def map_error(
    exc: BaseException, index: str | None = None, secret: str | None = None
) -> errors.VectraError:
    """The most specific of our errors for one psycopg error."""
    sqlstate = getattr(exc, "sqlstate", None)
    detail = f" [{sqlstate}]" if sqlstate else ""
    summary = _summary(exc, secret)
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return errors.PoolTimeoutError(f"No PostgreSQL connection became free in time: {summary}")
    if isinstance(exc, pg_errors.QueryCanceled | pg_errors.LockNotAvailable):
        return errors.TimeoutError(f"PostgreSQL cancelled the statement{detail}: {summary}")
    if isinstance(exc, pg_errors.UndefinedTable):
        what = f"Index {index!r}" if index else "A pgvector table"
        return errors.NotFoundError(f"{what} does not exist{detail}: {summary}")
    if isinstance(exc, pg_errors.SerializationFailure | pg_errors.DeadlockDetected):
        return errors.ServerError(f"PostgreSQL transaction conflict{detail}: {summary}")
    if isinstance(exc, psycopg.OperationalError) and (
        sqlstate is None or sqlstate.startswith("08") or sqlstate in _CONNECTION_STATES
    ):
        return errors.ConnectionError(f"PostgreSQL connection failed{detail}: {summary}")
    if isinstance(exc, psycopg.OperationalError | psycopg.InternalError):
        return errors.ServerError(f"PostgreSQL error{detail}: {summary}")
    # Programming, data and integrity errors: retrying cannot help.
    return errors.VectraError(f"PostgreSQL error{detail}: {summary}")


def _summary(exc: BaseException, secret: str | None) -> str:
    diag = getattr(exc, "diag", None)
    text = getattr(diag, "message_primary", None) or " ".join(str(exc).split())
    text = text or type(exc).__name__
    return redact(text, secret)
