"""Retries with exponential backoff and jitter, on tenacity.

Delay before retry *n* (n = 1, 2, ...) is ``base_delay * backoff_factor ** (n - 1)``, capped
at ``max_delay``, then spread ±25 % when ``jitter`` is on. A :class:`RateLimitError` that
carries ``retry_after`` waits that long instead (still capped). Only transient failures are
retried; see :func:`is_retryable`. The last error is re-raised as itself.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base

from . import errors

logger = logging.getLogger("vectra_django.retry")

P = ParamSpec("P")
R = TypeVar("R")

_RETRYABLE = (
    errors.ConnectionError,
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
# SQLSTATEs of transient PostgreSQL failures: serialization, deadlock, too many connections,
# admin shutdown, crash shutdown, cannot connect now, connection exceptions (class 08).
_PG_TRANSIENT = {"40001", "40P01", "53300", "57P01", "57P02", "57P03"}


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is a transient failure worth another attempt."""
    if isinstance(exc, _NEVER):
        return False
    if isinstance(exc, _RETRYABLE):
        return not getattr(exc, "in_transaction", False)
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate in _PG_TRANSIENT or sqlstate.startswith("08")
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # pragma: no cover - psycopg is a hard dependency
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg_pool.PoolTimeout)


class wait_backoff(wait_base):
    """Exponential backoff with optional ±25 % jitter, honouring ``retry_after``."""

    def __init__(
        self, base_delay: float, backoff_factor: float, max_delay: float, jitter: bool
    ) -> None:
        self.base_delay = base_delay
        self.backoff_factor = backoff_factor
        self.max_delay = max_delay
        self.jitter = jitter

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after >= 0:
            return float(min(retry_after, self.max_delay))
        delay = self.base_delay * self.backoff_factor ** (retry_state.attempt_number - 1)
        if self.jitter:
            delay *= random.uniform(0.75, 1.25)
        return float(min(delay, self.max_delay))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The settings of one retry loop; the client builds one per alias."""

    max_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    backoff_factor: float = 2.0
    jitter: bool = True

    def retrying(self, on_retry: Callable[[BaseException], None] | None = None) -> Retrying:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            logger.warning(
                "Retrying %s (attempt %d of %d) in %.2fs after %s: %s",
                getattr(state.fn, "__qualname__", "operation"),
                state.attempt_number,
                self.max_attempts,
                delay,
                type(exc).__name__,
                exc,
            )
            if on_retry is not None and exc is not None:
                on_retry(exc)

        return Retrying(
            stop=stop_after_attempt(max(1, self.max_attempts)),
            wait=wait_backoff(self.base_delay, self.backoff_factor, self.max_delay, self.jitter),
            retry=retry_if_exception(is_retryable),
            before_sleep=before_sleep,
            reraise=True,
        )

    def call(
        self,
        fn: Callable[..., R],
        *args: Any,
        on_retry: Callable[[BaseException], None] | None = None,
        **kwargs: Any,
    ) -> R:
        return self.retrying(on_retry)(fn, *args, **kwargs)


def with_retry(
    max_attempts: int = 3,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    backoff_factor: float = 2.0,
    jitter: bool = True,
    on_retry: Callable[[BaseException], None] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function so transient failures are retried with backoff."""
    policy = RetryPolicy(max_attempts, base_delay, max_delay, backoff_factor, jitter)

    def decorator(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            return policy.call(fn, *args, on_retry=on_retry, **kwargs)

        wrapper.retry_policy = policy  # type: ignore[attr-defined]
        return wrapper

    return decorator
