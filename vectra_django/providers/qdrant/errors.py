"""qdrant-client's, httpx's and gRPC's exceptions as ours."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from ... import errors
from ..base import translating_errors


def map_errors(secret: str | None = None) -> AbstractContextManager[None]:
    """Turn qdrant-client's, httpx's and grpc's exceptions into ours; most specific first."""
    return translating_errors(_translate, secret)


def _from_status(
    status: int | None, message: str, retry_after: float | None = None
) -> errors.VectraError:
    if status in (401, 403):
        return errors.AuthenticationError(message)
    if status == 404:
        return errors.NotFoundError(message)
    if status == 429:
        return errors.RateLimitError(message, retry_after=retry_after)
    if status in (400, 409, 413, 422):
        return errors.ValidationError(message)
    if status == 408:
        return errors.TimeoutError(message)
    if status is not None and status >= 500:
        return errors.ServerError(message, status_code=status)
    return errors.VectraError(message)


def _retry_after(headers: Any) -> float | None:
    try:
        value = float(headers.get("retry-after"))
    except (AttributeError, TypeError, ValueError):
        return None
    return value if value >= 0 else None


def _grpc_error(exc: Exception, message: str) -> errors.VectraError | None:
    code = getattr(getattr(exc, "code", lambda: None)(), "name", None)
    table = {
        "NOT_FOUND": errors.NotFoundError,
        "UNAUTHENTICATED": errors.AuthenticationError,
        "PERMISSION_DENIED": errors.AuthenticationError,
        "INVALID_ARGUMENT": errors.ValidationError,
        "ALREADY_EXISTS": errors.ValidationError,
        "DEADLINE_EXCEEDED": errors.TimeoutError,
        "UNAVAILABLE": errors.ConnectionError,
    }
    if code == "RESOURCE_EXHAUSTED":
        return errors.RateLimitError(message)
    if code in ("INTERNAL", "UNKNOWN", "DATA_LOSS"):
        return errors.ServerError(message)
    return table[code](message) if code in table else None


def _translate(exc: Exception) -> errors.VectraError | None:
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    message = f"Qdrant: {exc}"
    try:
        from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
    except ImportError:  # pragma: no cover - older qdrant-client
        ResourceExhaustedResponse = ()
    if isinstance(exc, ResourceExhaustedResponse):
        return errors.RateLimitError(message, retry_after=float(exc.retry_after_s))
    if isinstance(exc, UnexpectedResponse):
        detail = exc.content.decode(errors="replace")[:300] if exc.content else exc.reason_phrase
        return _from_status(
            exc.status_code, f"Qdrant: HTTP {exc.status_code}: {detail}", _retry_after(exc.headers)
        )
    if isinstance(exc, ResponseHandlingException):
        source = exc.source
        if isinstance(source, httpx.TimeoutException | TimeoutError):
            return errors.TimeoutError(f"Qdrant: {source!r}")
        if isinstance(source, httpx.TransportError | OSError):
            return errors.ConnectionError(f"Qdrant: {source!r}")
        return errors.ServerError(f"Qdrant: unreadable response: {source!r}")
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return errors.TimeoutError(message)
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return errors.ConnectionError(message)
    if type(exc).__module__.startswith("grpc"):
        return _grpc_error(exc, message)
    # The in-process mode raises plain exceptions with the server's wording; only those
    # raised inside qdrant-client are its answers (ours would be bugs, left as they are).
    if not raised_in_qdrant_client(exc):
        return None
    if isinstance(exc, KeyError):
        return errors.NotFoundError(f"Qdrant: point {exc.args[0] if exc.args else ''} not found")
    if isinstance(exc, ValueError):
        if "not found" in str(exc).lower():
            return errors.NotFoundError(message)
        return errors.ValidationError(message)
    return None


def raised_in_qdrant_client(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "qdrant_client" in tb.tb_frame.f_code.co_filename
