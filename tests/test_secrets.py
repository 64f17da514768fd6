"""Passwords and API keys never show in ``repr()``, in log records, or in error messages.

Each client is pointed at a closed port (or, for Pinecone, at the local fake that rejects
or fails the request) and made to fail through its retries, with every logger captured at
DEBUG; then the secret is searched for in every rendered record, the error's message, its
whole chain of causes and the formatted traceback.
"""

from __future__ import annotations

import logging
import socket
import traceback
import warnings
from collections.abc import Iterator

import pytest

from vectra_django import Client, errors

PASSWORD = "Pw-7f3a9c-TOPSECRET"
API_KEY = "pcsk_TOPSECRET_7f3a9c_key"


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rendered(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)


def everything_said_about(exc: BaseException) -> str:
    """The message of the error and of each cause or context, and the formatted traceback."""
    parts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(getattr(current, "args", ()))]
        current = current.__cause__ or current.__context__
    parts.append("".join(traceback.format_exception(exc)))
    return "\n".join(parts)


def assert_no_secret(secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text
        # nor a prefix long enough to identify it
        assert secret[:12] not in text


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


# -- pgvector ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://vectra:{PASSWORD}@127.0.0.1:{{port}}/vectors?connect_timeout=2",
        f"host=127.0.0.1 port={{port}} dbname=vectors user=vectra password={PASSWORD} "
        "connect_timeout=2",
    ],
    ids=["url", "conninfo"],
)
def test_pgvector_password_stays_out_of_repr_logs_and_errors(
    url: str, captured: pytest.LogCaptureFixture
) -> None:
    url = url.format(port=closed_port())
    client = Client(provider="pgvector", url=url, pool_timeout=0.3, max_retries=2, retry_delay=0.01)
    try:
        with pytest.raises(errors.ConnectionError) as caught:
            client.list_indexes()
        assert "127.0.0.1" in repr(client.provider)
        retries = [r for r in captured.records if r.name == "vectra_django.retry"]
        assert len(retries) == 2, "the failure went through the retry loop"
        assert_no_secret(
            PASSWORD,
            repr(client),
            repr(client.provider),
            repr(vars(client)),
            everything_said_about(caught.value),
            rendered(captured.records),
        )
    finally:
        client.close()


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://vectra:{PASSWORD}@db:notaport/vectors",
        f"postgresql://vectra:{PASSWORD}@db/vectors?no_such_option=1",
        f"host=db password={PASSWORD} 'unterminated",
    ],
    ids=["bad-port", "unknown-option", "unparsable"],
)
def test_pgvector_bad_url_error_does_not_echo_the_password(url: str) -> None:
    with pytest.raises(errors.VectraError) as caught:
        client = Client(provider="pgvector", url=url, pool_timeout=0.3, max_retries=0)
        try:
            client.list_indexes()
        finally:
            client.close()
    assert_no_secret(PASSWORD, everything_said_about(caught.value))


def test_pgvector_settings_alias_repr_hides_the_password() -> None:
    port = closed_port()
    client = Client.from_settings(
        {"PROVIDER": "pgvector", "URL": f"postgresql://u:{PASSWORD}@127.0.0.1:{port}/d"},
        alias="vectors",
    )
    assert "vectors" in repr(client)
    assert_no_secret(PASSWORD, repr(client), repr(client.provider), str(client.provider))
    client.close()


# -- Pinecone ------------------------------------------------------------------------------


def pinecone_client(host: str, **options: object) -> Client:
    pytest.importorskip("pinecone")
    options.setdefault("max_retries", 2)
    options.setdefault("retry_delay", 0.01)
    return Client(provider="pinecone", api_key=API_KEY, host=host, timeout=2, **options)


def test_pinecone_api_key_stays_out_of_repr_logs_and_errors_when_unreachable(
    captured: pytest.LogCaptureFixture,
) -> None:
    client = pinecone_client(f"http://127.0.0.1:{closed_port()}")
    try:
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            with pytest.raises(errors.VectraError) as caught:
                client.list_indexes()
        assert isinstance(caught.value, errors.ConnectionError | errors.TimeoutError)
        assert len([r for r in captured.records if r.name == "vectra_django.retry"]) == 2
        assert_no_secret(
            API_KEY,
            repr(client),
            repr(client.provider),
            everything_said_about(caught.value),
            rendered(captured.records),
            "\n".join(str(w.message) for w in warned),
        )
    finally:
        client.close()


@pytest.fixture
def fake_pinecone() -> Iterator[object]:
    pytest.importorskip("pinecone")
    from tests.fake_pinecone import FakePinecone

    with FakePinecone(api_key="the-right-key") as server:
        yield server


def test_pinecone_rejected_key_is_not_echoed(
    fake_pinecone, captured: pytest.LogCaptureFixture
) -> None:
    client = pinecone_client(fake_pinecone.url)
    try:
        with pytest.raises(errors.AuthenticationError) as caught:
            client.list_indexes()
        assert not [r for r in captured.records if r.name == "vectra_django.retry"]
        assert_no_secret(API_KEY, everything_said_about(caught.value), rendered(captured.records))
    finally:
        client.close()


def test_pinecone_server_errors_retried_without_logging_the_key(
    captured: pytest.LogCaptureFixture,
) -> None:
    pytest.importorskip("pinecone")
    from tests.fake_pinecone import FakePinecone

    with FakePinecone(api_key=API_KEY) as server:
        server.fail_next(503, times=5)
        client = pinecone_client(server.url)
        try:
            with pytest.raises(errors.ServerError) as caught:
                client.list_indexes()
        finally:
            client.close()
    retries = [r for r in captured.records if r.name == "vectra_django.retry"]
    assert len(retries) == 2
    assert_no_secret(API_KEY, everything_said_about(caught.value), rendered(captured.records))


# -- Qdrant --------------------------------------------------------------------------------


def test_qdrant_api_key_stays_out_of_repr_logs_and_errors(
    captured: pytest.LogCaptureFixture,
) -> None:
    pytest.importorskip("qdrant_client")
    client = Client(
        provider="qdrant",
        url=f"http://127.0.0.1:{closed_port()}",
        api_key=API_KEY,
        timeout=2,
        max_retries=2,
        retry_delay=0.01,
    )
    try:
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            with pytest.raises(errors.VectraError) as caught:
                client.list_indexes()
        assert isinstance(caught.value, errors.ConnectionError | errors.TimeoutError)
        assert len([r for r in captured.records if r.name == "vectra_django.retry"]) == 2
        assert_no_secret(
            API_KEY,
            repr(client),
            repr(client.provider),
            everything_said_about(caught.value),
            rendered(captured.records),
            "\n".join(str(w.message) for w in warned),
        )
    finally:
        client.close()
