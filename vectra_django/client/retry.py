"""The retry policy (tenacity) behind :mod:`vectra_django.retry`, which documents it."""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar, overload

from tenacity import (
    RetryCallState,
    Retrying,
    nap,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from tenacity.wait import wait_base

from .. import errors
from .redaction import describe_error

logger = logging.getLogger("vectra_django.retry")

P = ParamSpec("P")
R = TypeVar("R")

JITTER = 0.25

_RETRYABLE = (
    errors.ConnectionError,  # includes PoolTimeoutError
    errors.TimeoutError,
    errors.RateLimitError,
    errors.ServerError,
)
_NEVER = (
    errors.ValidationError,
    errors.AuthenticationError,
    errors.NotFoundError,
    errors.ConfigurationError,
    errors.UnsupportedFeatureError,
)
# SQLSTATEs of transient PostgreSQL failures (class 08, connection exceptions, is added by
# prefix): serialization failure, deadlock, too many connections, admin shutdown, crash
# shutdown, cannot connect now, and the two timeouts (statement timeout, lock timeout).
PG_TRANSIENT_SQLSTATES = frozenset(
    {"40001", "40P01", "53300", "57P01", "57P02", "57P03", "57014", "55P03"}
)
# HTTP statuses worth another attempt: request timeout, too many requests, every 5xx.
_HTTP_TRANSIENT = frozenset({408, 429})


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is a transient failure worth another attempt.

    Nothing marked ``in_transaction`` is retried: one statement of a caller's failed
    transaction cannot be replayed on its own.
    """
    if getattr(exc, "in_transaction", False):
        return False
    if isinstance(exc, _NEVER):
        return False
    if isinstance(exc, _RETRYABLE):
        return True
    if isinstance(exc, errors.VectraError):
        return _http_transient(exc) is True
    return _foreign_retryable(exc, depth=0)


def _foreign_retryable(exc: BaseException, depth: int) -> bool:
    """Driver, pool, socket or SDK errors that reached the retry loop unmapped."""
    import psycopg
    import psycopg_pool

    if isinstance(exc, psycopg_pool.PoolTimeout):
        return True
    if isinstance(exc, psycopg.Error):
        sqlstate = exc.sqlstate
        if sqlstate is None:
            # No server answer at all: the connection could not be made or has broken.
            return isinstance(exc, psycopg.OperationalError)
        return sqlstate in PG_TRANSIENT_SQLSTATES or sqlstate.startswith("08")
    if isinstance(exc, ConnectionError | TimeoutError):  # the builtins: sockets, SDKs
        return True
    status = _http_transient(exc)
    if status is not None:
        return status
    # Django wraps driver errors in django.db.utils.* and chains the original as the cause.
    cause = exc.__cause__
    if cause is not None and depth < 3:
        return _foreign_retryable(cause, depth + 1)
    return False


def _http_transient(exc: BaseException) -> bool | None:
    """``True``/``False`` for an error carrying an HTTP status, ``None`` when it has none."""
    for attr in ("status_code", "status"):
        status = getattr(exc, attr, None)
        if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
            return status in _HTTP_TRANSIENT or status >= 500
    return None


# One generator for every jitter: seeding one per call costs more than the call it wraps.
_RNG = random.Random()


class wait_backoff(wait_base):
    """Exponential backoff with ±25 % jitter, capped, preferring the server's ``retry_after``.

    Built on tenacity's :class:`wait_exponential` (``multiplier=base_delay``,
    ``exp_base=backoff_factor``); the jitter is applied before the cap, so no wait ever
    exceeds ``max_delay``.
    """

    def __init__(
        self,
        base_delay: float = 1.0,
        backoff_factor: float = 2.0,
        max_delay: float = 30.0,
        jitter: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.base_delay = base_delay
        self.backoff_factor = backoff_factor
        self.max_delay = max_delay
        self.jitter = jitter
        self.rng = rng or _RNG
        self._exponential = wait_exponential(multiplier=base_delay, exp_base=backoff_factor)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        retry_after = getattr(exc, "retry_after", None)
        if (
            isinstance(retry_after, int | float)
            and not isinstance(retry_after, bool)
            and retry_after >= 0
        ):
            return float(min(retry_after, self.max_delay))
        delay = self._exponential(retry_state)
        if self.jitter:
            delay *= self.rng.uniform(1 - JITTER, 1 + JITTER)
        return float(max(0.0, min(delay, self.max_delay)))


# -- the policy ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The settings of one retry loop; the client builds one per alias.

    ``sleep`` is tenacity's by default; tests pass a recorder so nothing really waits.
    """

    max_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    backoff_factor: float = 2.0
    jitter: bool = True
    sleep: Callable[[float], None] = field(default=nap.sleep, compare=False, repr=False)

    def wait(self) -> wait_backoff:
        return wait_backoff(self.base_delay, self.backoff_factor, self.max_delay, self.jitter)

    def retrying(self, on_retry: Callable[[BaseException], None] | None = None) -> Retrying:
        """A tenacity controller for this policy.

        ``on_retry`` runs before each wait with the error, so a provider can drop a broken
        connection and the next attempt gets a fresh one.
        """
        max_attempts = max(1, int(self.max_attempts))

        def before_sleep(state: RetryCallState) -> None:
            outcome = state.outcome
            exc = outcome.exception() if outcome is not None and outcome.failed else None
            delay = state.next_action.sleep if state.next_action is not None else 0.0
            name = getattr(state.fn, "__qualname__", None) or "operation"
            logger.warning(
                "Retrying %s in %.2fs: attempt %d of %d failed with %s",
                name,
                delay,
                state.attempt_number,
                max_attempts,
                describe_error(exc),
                extra={
                    "attempt": state.attempt_number,
                    "max_attempts": max_attempts,
                    "delay": delay,
                    "error_type": type(exc).__name__ if exc is not None else None,
                },
            )
            if on_retry is not None and exc is not None:
                on_retry(exc)

        return Retrying(
            stop=stop_after_attempt(max_attempts),
            wait=self.wait(),
            retry=retry_if_exception(is_retryable),
            before_sleep=before_sleep,
            sleep=self.sleep,
            reraise=True,
        )

    def call(
        self,
        fn: Callable[..., R],
        *args: Any,
        on_retry: Callable[[BaseException], None] | None = None,
        **kwargs: Any,
    ) -> R:
        """``fn(*args, **kwargs)``, retried per this policy.

        The first attempt runs outside tenacity, whose controller costs more than a fast
        query: most calls succeed at once. When it fails with a retryable error, tenacity
        takes over as if it had made that attempt itself (it is replayed as tenacity's
        first), so attempt numbers, waits, logs and ``on_retry`` are exactly as without
        this shortcut.
        """
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:
            if int(self.max_attempts) <= 1 or not isinstance(exc, Exception):
                raise
            if not is_retryable(exc):
                raise
            first: BaseException | None = exc

        @functools.wraps(fn)
        def attempt(*a: Any, **k: Any) -> R:
            nonlocal first
            if first is not None:
                failed, first = first, None
                raise failed
            return fn(*a, **k)

        return self.retrying(on_retry)(attempt, *args, **kwargs)

    def wraps(
        self, fn: Callable[P, R], on_retry: Callable[[BaseException], None] | None = None
    ) -> Callable[P, R]:
        """``fn`` retried per this policy, with tenacity's ``statistics`` and ``retry_with``."""
        wrapped = self.retrying(on_retry).wraps(fn)
        wrapped.retry_policy = self  # type: ignore[attr-defined]
        return wrapped


@overload
def with_retry(fn: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def with_retry(
    fn: None = None,
    /,
    *,
    max_attempts: int = 3,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    backoff_factor: float = 2.0,
    jitter: bool = True,
    on_retry: Callable[[BaseException], None] | None = None,
    sleep: Callable[[float], None] = nap.sleep,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def with_retry(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    max_attempts: int = 3,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    backoff_factor: float = 2.0,
    jitter: bool = True,
    on_retry: Callable[[BaseException], None] | None = None,
    sleep: Callable[[float], None] = nap.sleep,
) -> Any:
    """Retry a function's transient failures; use as ``@with_retry`` or ``@with_retry(...)``.

    ``max_attempts`` counts the first attempt. The wrapped function keeps tenacity's
    ``statistics`` (``attempt_number``, ``idle_for``, ...) of its latest call, and
    ``retry_with(...)`` builds a variant with other tenacity options.
    """
    policy = RetryPolicy(max_attempts, base_delay, max_delay, backoff_factor, jitter, sleep)
    if fn is not None:
        return policy.wraps(fn, on_retry)

    def decorator(f: Callable[P, R]) -> Callable[P, R]:
        return policy.wraps(f, on_retry)

    return decorator


__all__ = [
    "PG_TRANSIENT_SQLSTATES",
    "RetryPolicy",
    "is_retryable",
    "wait_backoff",
    "with_retry",
]
