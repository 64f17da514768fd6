"""The retry policy: which errors are retried, how long each wait is, and the loop itself.

Policies are pure functions of an error or of a hand-built tenacity ``RetryCallState``;
the loop runs with a recording ``sleep``, so nothing here ever waits.
"""

from __future__ import annotations

import dataclasses
import logging
import random

import psycopg
import psycopg_pool
import pytest
from django.db import utils as django_db_utils
from psycopg import errors as pg_errors
from tenacity import RetryCallState, RetryError, Retrying

from vectra_django import Client, errors
from vectra_django.client.redaction import describe_error, redact
from vectra_django.providers.memory import MemoryProvider
from vectra_django.retry import RetryPolicy, is_retryable, wait_backoff, with_retry


def make_retry_state(attempt: int, exc: BaseException | None = None) -> RetryCallState:
    """The state tenacity hands to policies after attempt number ``attempt`` failed."""
    state = RetryCallState(retry_object=Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    if exc is not None:
        state.set_exception((type(exc), exc, None))
    else:
        state.set_result(None)
    return state


def in_transaction(exc: BaseException) -> BaseException:
    exc.in_transaction = True  # type: ignore[attr-defined]
    return exc


def with_status(exc: BaseException, status: int) -> BaseException:
    exc.status_code = status  # type: ignore[attr-defined]
    return exc


class HTTPError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def django_wrapped(cause: BaseException) -> BaseException:
    """What Django's DatabaseErrorWrapper raises: its own class, the driver error as cause."""
    wrapper = django_db_utils.OperationalError(str(cause))
    wrapper.__cause__ = cause
    return wrapper


# -- is_retryable --------------------------------------------------------------------------

RETRIED = {
    "ConnectionError": errors.ConnectionError("connection lost"),
    "PoolTimeoutError": errors.PoolTimeoutError("no connection in 30s"),
    "TimeoutError": errors.TimeoutError("statement timeout"),
    "RateLimitError": errors.RateLimitError("slow down", retry_after=2),
    "ServerError": errors.ServerError("boom", status_code=503),
    "ServerError without status": errors.ServerError("transaction conflict"),
    "psycopg OperationalError without SQLSTATE": psycopg.OperationalError(
        "server closed the connection unexpectedly"
    ),
    "psycopg SerializationFailure": pg_errors.SerializationFailure("could not serialize"),
    "psycopg DeadlockDetected": pg_errors.DeadlockDetected("deadlock detected"),
    "psycopg TooManyConnections": pg_errors.TooManyConnections("too many clients"),
    "psycopg AdminShutdown": pg_errors.AdminShutdown("terminating connection"),
    "psycopg CrashShutdown": pg_errors.CrashShutdown("crash"),
    "psycopg CannotConnectNow": pg_errors.CannotConnectNow("the database system is starting up"),
    "psycopg ConnectionFailure (08006)": pg_errors.ConnectionFailure("connection failure"),
    "psycopg ConnectionException (08000)": pg_errors.ConnectionException("connection exception"),
    "psycopg SqlclientUnableToEstablishSqlconnection (08001)": (
        pg_errors.SqlclientUnableToEstablishSqlconnection("cannot connect")
    ),
    "psycopg QueryCanceled (statement timeout)": pg_errors.QueryCanceled("statement timeout"),
    "psycopg LockNotAvailable (lock timeout)": pg_errors.LockNotAvailable("lock timeout"),
    "psycopg_pool PoolTimeout": psycopg_pool.PoolTimeout("couldn't get a connection"),
    "builtin ConnectionResetError": ConnectionResetError("reset by peer"),
    "builtin ConnectionRefusedError": ConnectionRefusedError("refused"),
    "builtin TimeoutError": TimeoutError("timed out"),
    "HTTP 429 from an SDK": HTTPError(429),
    "HTTP 408 from an SDK": HTTPError(408),
    "HTTP 500 from an SDK": HTTPError(500),
    "HTTP 503 from an SDK": HTTPError(503),
    "VectraError carrying status 502": with_status(errors.VectraError("bad gateway"), 502),
    "Django-wrapped AdminShutdown": django_wrapped(pg_errors.AdminShutdown("terminating")),
    "Django-wrapped broken connection": django_wrapped(psycopg.OperationalError("closed")),
}

NOT_RETRIED = {
    "ValidationError": errors.ValidationError("bad vector"),
    "AuthenticationError": errors.AuthenticationError("bad key"),
    "NotFoundError": errors.NotFoundError("no index"),
    "ConfigurationError": errors.ConfigurationError("no URL"),
    "UnsupportedFeatureError": errors.UnsupportedFeatureError("memory", "sparse vectors"),
    "plain VectraError": errors.VectraError("PostgreSQL error"),
    "ValueError": ValueError("nope"),
    "KeyError": KeyError("id"),
    "RuntimeError": RuntimeError("bug"),
    "psycopg UniqueViolation": pg_errors.UniqueViolation("duplicate key"),
    "psycopg SyntaxError": pg_errors.SyntaxError("syntax error"),
    "psycopg UndefinedTable": pg_errors.UndefinedTable("relation does not exist"),
    "psycopg InvalidPassword": pg_errors.InvalidPassword("password authentication failed"),
    "psycopg InsufficientPrivilege": pg_errors.InsufficientPrivilege("permission denied"),
    "psycopg DataException": pg_errors.DataException("invalid input"),
    "psycopg DiskFull": pg_errors.DiskFull("no space left"),
    "psycopg ProgrammingError": psycopg.ProgrammingError("wrong number of parameters"),
    "psycopg InterfaceError": psycopg.InterfaceError("bad adaptation"),
    "HTTP 400 from an SDK": HTTPError(400),
    "HTTP 401 from an SDK": HTTPError(401),
    "HTTP 403 from an SDK": HTTPError(403),
    "HTTP 404 from an SDK": HTTPError(404),
    "HTTP 409 from an SDK": HTTPError(409),
    "HTTP 422 from an SDK": HTTPError(422),
    "Django-wrapped UniqueViolation": django_wrapped(pg_errors.UniqueViolation("dup")),
    "ConnectionError inside the caller's transaction": in_transaction(
        errors.ConnectionError("connection lost")
    ),
    "ServerError inside the caller's transaction": in_transaction(
        errors.ServerError("deadlock detected")
    ),
    "TimeoutError inside the caller's transaction": in_transaction(errors.TimeoutError("t")),
    "psycopg SerializationFailure inside the caller's transaction": in_transaction(
        pg_errors.SerializationFailure("could not serialize")
    ),
}


@pytest.mark.parametrize("exc", RETRIED.values(), ids=RETRIED.keys())
def test_is_retryable_accepts_transient_failures(exc: BaseException) -> None:
    assert is_retryable(exc) is True


@pytest.mark.parametrize("exc", NOT_RETRIED.values(), ids=NOT_RETRIED.keys())
def test_is_retryable_refuses_everything_else(exc: BaseException) -> None:
    assert is_retryable(exc) is False


def test_is_retryable_reads_sqlstate_not_the_message() -> None:
    # The same words in a message of a non-transient class do not make it retryable.
    assert not is_retryable(pg_errors.UniqueViolation("connection timeout deadlock"))
    assert is_retryable(psycopg.errors.lookup("40P01")("no words here"))


def test_is_retryable_validation_error_stays_unretried_even_with_a_5xx_status() -> None:
    exc = errors.ValidationError("bad")
    exc.status_code = 503  # type: ignore[attr-defined]
    assert not is_retryable(exc)


# -- wait_backoff --------------------------------------------------------------------------


def test_wait_backoff_grows_exponentially_from_base_delay() -> None:
    wait = wait_backoff(base_delay=0.5, backoff_factor=2, max_delay=100, jitter=False)
    exc = errors.ConnectionError("x")
    assert [wait(make_retry_state(n, exc)) for n in range(1, 6)] == [0.5, 1, 2, 4, 8]


def test_wait_backoff_uses_the_backoff_factor() -> None:
    wait = wait_backoff(base_delay=1, backoff_factor=3, max_delay=100, jitter=False)
    assert [wait(make_retry_state(n)) for n in (1, 2, 3, 4)] == [1, 3, 9, 27]


def test_wait_backoff_is_capped_at_max_delay() -> None:
    wait = wait_backoff(base_delay=1, backoff_factor=2, max_delay=30, jitter=False)
    assert [wait(make_retry_state(n)) for n in (5, 6, 7, 50, 5000)] == [16, 30, 30, 30, 30]


def test_wait_backoff_jitter_stays_within_a_quarter_of_the_nominal_delay() -> None:
    wait = wait_backoff(
        base_delay=1, backoff_factor=2, max_delay=1000, jitter=True, rng=random.Random(7)
    )
    for attempt, nominal in [(1, 1), (2, 2), (3, 4), (6, 32)]:
        delays = [wait(make_retry_state(attempt)) for _ in range(300)]
        assert all(0.75 * nominal <= d <= 1.25 * nominal for d in delays)
        # and it really spreads: both halves of the band are used
        assert min(delays) < 0.85 * nominal and max(delays) > 1.15 * nominal


def test_wait_backoff_jitter_never_exceeds_max_delay() -> None:
    wait = wait_backoff(base_delay=1, backoff_factor=2, max_delay=10, jitter=True)
    delays = [wait(make_retry_state(10)) for _ in range(300)]
    assert all(7.5 <= d <= 10 for d in delays)


def test_wait_backoff_honours_retry_after() -> None:
    wait = wait_backoff(base_delay=1, backoff_factor=2, max_delay=30, jitter=True)
    assert wait(make_retry_state(1, errors.RateLimitError("429", retry_after=7))) == 7.0
    assert wait(make_retry_state(4, errors.RateLimitError("429", retry_after=0))) == 0.0


def test_wait_backoff_caps_retry_after_at_max_delay() -> None:
    wait = wait_backoff(base_delay=1, backoff_factor=2, max_delay=30, jitter=False)
    assert wait(make_retry_state(1, errors.RateLimitError("429", retry_after=3600))) == 30.0


def test_wait_backoff_ignores_a_missing_or_nonsensical_retry_after() -> None:
    wait = wait_backoff(base_delay=1, backoff_factor=2, max_delay=30, jitter=False)
    assert wait(make_retry_state(3, errors.RateLimitError("429"))) == 4.0
    assert wait(make_retry_state(3, errors.RateLimitError("429", retry_after=-5))) == 4.0


def test_retry_policy_defaults_match_the_documented_ones() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_delay, policy.max_delay) == (3, 1.0, 30.0)
    assert (policy.backoff_factor, policy.jitter) == (2.0, True)


# -- the loop ------------------------------------------------------------------------------


class Flaky:
    """Raises the given errors in turn, then returns ``"ok"``; counts calls."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.raised: list[BaseException] = []

    def __call__(self, *args: object, **kwargs: object) -> str:
        self.calls += 1
        if self.failures:
            exc = self.failures.pop(0)
            self.raised.append(exc)
            raise exc
        return "ok"


def quick_policy(sleeps: list[float], **changes: object) -> RetryPolicy:
    options = {"max_attempts": 3, "base_delay": 0.1, "max_delay": 5.0, "jitter": False}
    options.update(changes)
    return RetryPolicy(sleep=sleeps.append, **options)  # type: ignore[arg-type]


def test_retry_loop_retries_until_success() -> None:
    sleeps: list[float] = []
    fn = Flaky(errors.ConnectionError("a"), pg_errors.SerializationFailure("b"))
    assert quick_policy(sleeps).call(fn) == "ok"
    assert fn.calls == 3
    assert sleeps == [0.1, 0.2]


def test_retry_loop_stops_after_max_attempts_and_reraises_the_last_error() -> None:
    sleeps: list[float] = []
    fn = Flaky(*(errors.ConnectionError(f"failure {i}") for i in range(10)))
    with pytest.raises(errors.ConnectionError) as caught:
        quick_policy(sleeps, max_attempts=4).call(fn)
    assert fn.calls == 4
    assert caught.value is fn.raised[-1]
    assert not isinstance(caught.value, RetryError)
    assert sleeps == [0.1, 0.2, 0.4]


@pytest.mark.parametrize("exc", NOT_RETRIED.values(), ids=NOT_RETRIED.keys())
def test_retry_loop_raises_unretried_errors_at_once(exc: BaseException) -> None:
    sleeps: list[float] = []
    fn = Flaky(exc)
    with pytest.raises(type(exc)) as caught:
        quick_policy(sleeps).call(fn)
    assert caught.value is exc
    assert fn.calls == 1 and sleeps == []


def test_retry_loop_with_one_attempt_never_retries() -> None:
    sleeps: list[float] = []
    fn = Flaky(errors.ConnectionError("a"))
    with pytest.raises(errors.ConnectionError):
        quick_policy(sleeps, max_attempts=1).call(fn)
    assert fn.calls == 1 and sleeps == []


def test_retry_loop_waits_retry_after() -> None:
    sleeps: list[float] = []
    fn = Flaky(errors.RateLimitError("429", retry_after=2.5))
    assert quick_policy(sleeps).call(fn) == "ok"
    assert sleeps == [2.5]


def test_retry_loop_calls_on_retry_with_each_error_before_waiting() -> None:
    sleeps: list[float] = []
    seen: list[tuple[BaseException, int]] = []
    first, second = errors.ConnectionError("a"), errors.ConnectionError("b")
    fn = Flaky(first, second)
    quick_policy(sleeps).call(fn, on_retry=lambda exc: seen.append((exc, len(sleeps))))
    assert seen == [(first, 0), (second, 1)]


def test_retry_loop_passes_arguments_through() -> None:
    sleeps: list[float] = []
    received = []

    def fn(a: int, *, b: int) -> int:
        received.append((a, b))
        if len(received) == 1:
            raise errors.TimeoutError("t")
        return a + b

    assert quick_policy(sleeps).call(fn, 1, b=2) == 3
    assert received == [(1, 2), (1, 2)]


def test_retry_loop_logs_attempt_delay_and_error(caplog: pytest.LogCaptureFixture) -> None:
    sleeps: list[float] = []
    fn = Flaky(errors.ConnectionError("server went away"), errors.ServerError("overloaded"))
    with caplog.at_level(logging.WARNING, logger="vectra_django.retry"):
        quick_policy(sleeps).call(fn)
    records = [r for r in caplog.records if r.name == "vectra_django.retry"]
    assert [r.attempt for r in records] == [1, 2]  # type: ignore[attr-defined]
    assert [r.delay for r in records] == [0.1, 0.2]  # type: ignore[attr-defined]
    assert [r.levelno for r in records] == [logging.WARNING] * 2
    first, second = (r.getMessage() for r in records)
    assert "attempt 1 of 3" in first and "0.10s" in first
    assert "ConnectionError: server went away" in first
    assert "attempt 2 of 3" in second and "ServerError: overloaded" in second


def test_retry_loop_never_logs_a_password(caplog: pytest.LogCaptureFixture) -> None:
    sleeps: list[float] = []
    fn = Flaky(
        psycopg.OperationalError(
            "connection failed: postgresql://app:hunter2@db.internal:5432/prod refused"
        ),
        psycopg.OperationalError("invalid dsn: host=db user=app password=hunter2 port=5"),
        pg_errors.AdminShutdown("key api_key=sk-hunter2 Authorization: Bearer hunter2"),
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(pg_errors.AdminShutdown):
        quick_policy(sleeps).call(fn)
    records = [r for r in caplog.records if r.name == "vectra_django.retry"]
    assert len(records) == 2
    for record in records:
        rendered = logging.Formatter("%(message)s %(args)s").format(record)
        assert "hunter2" not in rendered
        assert record.exc_info is None
    assert "postgresql://app:***@db.internal" in records[0].getMessage()
    assert "password=***" in records[1].getMessage()


def test_retry_loop_does_not_retry_in_transaction_errors() -> None:
    sleeps: list[float] = []
    fn = Flaky(in_transaction(errors.ConnectionError("lost")))
    with pytest.raises(errors.ConnectionError):
        quick_policy(sleeps).call(fn)
    assert fn.calls == 1


# -- with_retry ----------------------------------------------------------------------------


def test_with_retry_decorates_without_arguments() -> None:
    calls = []

    @with_retry
    def write(x: int) -> int:
        """Write something."""
        calls.append(x)
        return x * 2

    assert write(21) == 42
    assert write.__name__ == "write" and write.__doc__ == "Write something."
    assert write.retry_policy == RetryPolicy()  # type: ignore[attr-defined]


def test_with_retry_decorates_with_arguments_and_counts_attempts() -> None:
    sleeps: list[float] = []
    flaky = Flaky(errors.ConnectionError("a"), errors.ConnectionError("b"))

    @with_retry(max_attempts=3, base_delay=0.5, backoff_factor=3, jitter=False, sleep=sleeps.append)
    def write(*, value: str) -> str:
        return flaky() + value

    assert write(value="!") == "ok!"
    assert flaky.calls == 3 and sleeps == [0.5, 1.5]
    assert write.statistics["attempt_number"] == 3  # type: ignore[attr-defined]
    assert write.statistics["idle_for"] == pytest.approx(2.0)  # type: ignore[attr-defined]


def test_with_retry_max_attempts_counts_the_first_attempt() -> None:
    sleeps: list[float] = []
    flaky = Flaky(*(errors.ServerError(str(i)) for i in range(5)))
    wrapped = with_retry(max_attempts=3, base_delay=0, sleep=sleeps.append)(flaky)
    with pytest.raises(errors.ServerError, match=r"^2$"):
        wrapped()
    assert flaky.calls == 3


def test_with_retry_reraises_the_error_itself() -> None:
    flaky = Flaky(*(pg_errors.DeadlockDetected("d") for _ in range(3)))
    wrapped = with_retry(max_attempts=2, base_delay=0, sleep=lambda _: None)(flaky)
    with pytest.raises(pg_errors.DeadlockDetected) as caught:
        wrapped()
    assert caught.value is flaky.raised[-1]


def test_with_retry_retry_with_overrides_tenacity_options() -> None:
    flaky = Flaky(*(errors.ConnectionError("x") for _ in range(3)))
    wrapped = with_retry(max_attempts=5, base_delay=0, sleep=lambda _: None)(flaky)
    assert wrapped.retry_with(reraise=True)() == "ok"  # type: ignore[attr-defined]


def test_with_retry_calls_on_retry() -> None:
    seen: list[BaseException] = []
    flaky = Flaky(errors.ConnectionError("x"))
    with_retry(base_delay=0, on_retry=seen.append, sleep=lambda _: None)(flaky)()
    assert seen == flaky.raised


# -- the client applies its alias's policy ------------------------------------------------


class FlakyMemoryProvider(MemoryProvider):
    """The memory store, whose upserts fail ``failures`` times with a transient error."""

    def __init__(self, failures: list[BaseException]) -> None:
        super().__init__()
        self.failures = failures
        self.upsert_calls = 0
        self.retried: list[BaseException] = []

    def upsert(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.upsert_calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return super().upsert(*args, **kwargs)

    def on_retry(self, exc: BaseException) -> None:
        self.retried.append(exc)


def test_client_max_retries_means_one_more_attempt() -> None:
    client = Client.from_settings(
        {"PROVIDER": "memory", "MAX_RETRIES": 4, "RETRY_DELAY": 0.2, "MAX_RETRY_DELAY": 3},
    )
    assert client.retry_policy.max_attempts == 5
    assert (client.retry_policy.base_delay, client.retry_policy.max_delay) == (0.2, 3.0)
    assert Client(provider="memory", max_retries=0).retry_policy.max_attempts == 1


def test_client_retries_a_provider_call_and_tells_the_provider() -> None:
    provider = FlakyMemoryProvider([errors.ConnectionError("a"), errors.PoolTimeoutError("b")])
    client = Client(provider, max_retries=2, retry_delay=0.01)
    sleeps: list[float] = []
    client.retry_policy = dataclasses.replace(client.retry_policy, sleep=sleeps.append)
    client.create_index("docs", dimension=2)
    assert client.upsert("docs", [{"id": "a", "values": [1.0, 0.0]}]) == {"upserted_count": 1}
    assert provider.upsert_calls == 3 and len(sleeps) == 2
    assert [type(e) for e in provider.retried] == [errors.ConnectionError, errors.PoolTimeoutError]
    assert list(client.fetch("docs", ["a"])) == ["a"]


def test_client_gives_up_after_max_retries_with_the_providers_error() -> None:
    failures = [errors.ServerError(f"down {i}") for i in range(5)]
    provider = FlakyMemoryProvider(list(failures))
    client = Client(provider, max_retries=1, retry_delay=0.01)
    client.retry_policy = dataclasses.replace(client.retry_policy, sleep=lambda _: None)
    client.create_index("docs", dimension=2)
    with pytest.raises(errors.ServerError) as caught:
        client.upsert("docs", [{"id": "a", "values": [1.0, 0.0]}])
    assert caught.value is failures[1]
    assert provider.upsert_calls == 2


# -- redaction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:pw1@h/db", "postgresql://u:***@h/db"),
        (
            "postgres://u:p%40ss@h:5432/db?sslmode=require",
            "postgres://u:***@h:5432/db?sslmode=require",
        ),
        ("host=h password=pw1 dbname=d", "host=h password=*** dbname=d"),
        ("password = 'pw 1' dbname=d", "password = *** dbname=d"),
        ("https://x/?api_key=pw1&a=b", "https://x/?api_key=***&a=b"),
        ("Api-Key: pw1", "Api-Key: ***"),
        ("Authorization: Bearer pw1", "Authorization: Bearer ***"),
        ("token=pw1", "token=***"),
        ("nothing secret here", "nothing secret here"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_redact_masks_secrets(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_describe_error_is_one_redacted_line() -> None:
    exc = psycopg.OperationalError("failed:\n  password=pw1\n  host=h")
    assert describe_error(exc) == "OperationalError: failed: password=*** host=h"
    assert describe_error(errors.VectraError()) == "VectraError"
