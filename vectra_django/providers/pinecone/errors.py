"""The Pinecone SDK's and httpx's exceptions as ours."""

from __future__ import annotations

from contextlib import AbstractContextManager

from ... import errors
from ..base import translating_errors


def map_errors(secret: str | None = None) -> AbstractContextManager[None]:
    """Turn the SDK's and httpx's exceptions into ours; the most specific match wins."""
    return translating_errors(_translate, secret)


def _translate(exc: Exception) -> errors.VectraError | None:
    try:
        from pinecone.errors import exceptions as pe
    except ImportError:  # pragma: no cover - only reachable without the SDK
        pe = None
    import httpx

    if pe is not None and isinstance(exc, pe.PineconeError):
        message = f"Pinecone: {getattr(exc, 'message', None) or exc}"
        status = getattr(exc, "status_code", None)
        if isinstance(exc, pe.UnauthorizedError | pe.ForbiddenError):
            return errors.AuthenticationError(message)
        if isinstance(exc, pe.NotFoundError):
            return errors.NotFoundError(message)
        if isinstance(exc, pe.RateLimitError):
            return errors.RateLimitError(message, retry_after=exc.retry_after)
        if isinstance(exc, pe.ServiceError):
            return errors.ServerError(message, status_code=status)
        if isinstance(exc, pe.PayloadTooLargeError | pe.ConflictError):
            return errors.ValidationError(message)
        if isinstance(exc, pe.PineconeTimeoutError):
            return errors.TimeoutError(message)
        if isinstance(exc, pe.PineconeConnectionError):
            return errors.ConnectionError(message)
        if isinstance(exc, pe.PineconeValueError | pe.PineconeTypeError):
            return errors.ValidationError(message)
        if isinstance(exc, pe.ApiError):
            if status in (400, 422):
                return errors.ValidationError(message)
            if status == 408:
                return errors.TimeoutError(message)
            if status is not None and status >= 500:
                return errors.ServerError(message, status_code=status)
        return errors.VectraError(message)
    if isinstance(exc, httpx.TimeoutException):
        return errors.TimeoutError(f"Pinecone: {exc}")
    if isinstance(exc, httpx.TransportError):
        return errors.ConnectionError(f"Pinecone: {exc}")
    return None
