"""Retries of transient failures with exponential backoff and jitter, composed from tenacity.

The delay before retry *n* (n = 1, 2, ...) is ``base_delay * backoff_factor ** (n - 1)``,
spread ±25 % when ``jitter`` is on, and never more than ``max_delay``. An error carrying
``retry_after`` (a :class:`~vectra_django.errors.RateLimitError` from an HTTP 429) waits that
long instead, still capped. Only transient failures are retried (see :func:`is_retryable`),
never anything raised inside the caller's own transaction, and the last error is re-raised
as itself, never as tenacity's ``RetryError``.

``max_attempts`` counts every attempt, the first one included: ``with_retry(max_attempts=3)``
tries at most three times. The ``MAX_RETRIES`` alias setting counts retries only, so the
client turns ``MAX_RETRIES = N`` into ``max_attempts = N + 1``.

Each retry is logged on the ``vectra_django.retry`` logger at WARNING with the attempt, the
delay and the error, after passwords, tokens and API keys are masked
(:mod:`vectra_django.client.redaction`). The implementation lives with the client
(:mod:`vectra_django.client.retry`); this module is its public name.
"""

from __future__ import annotations

from .client.retry import (
    PG_TRANSIENT_SQLSTATES,
    RetryPolicy,
    is_retryable,
    wait_backoff,
    with_retry,
)

__all__ = ["PG_TRANSIENT_SQLSTATES", "RetryPolicy", "is_retryable", "wait_backoff", "with_retry"]
