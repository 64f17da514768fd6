"""Errors raised by vectra_django.

No provider's own exception escapes the client: each provider maps what its driver or SDK
raises onto this hierarchy, so callers catch one set of types whatever the store::

    VectraError
    ├── ValidationError            (also a ValueError) bad input, raised before any write
    ├── ConfigurationError         bad or missing settings, missing optional dependency
    ├── NotFoundError              index or vector does not exist
    ├── AuthenticationError        rejected credentials (HTTP 401/403)
    ├── UnsupportedFeatureError    the provider cannot do this operation
    ├── RateLimitError             HTTP 429; ``retry_after`` in seconds when the server said
    ├── ServerError                HTTP 5xx or a server-side failure; ``status_code``
    ├── ConnectionError            the store could not be reached or the connection broke
    │   └── PoolTimeoutError       no pooled connection became free in time
    └── TimeoutError               the operation ran out of time
"""

from __future__ import annotations


class VectraError(Exception):
    """Base class of every error vectra_django raises."""


class ValidationError(VectraError, ValueError):
    """Input that cannot be accepted; nothing has been written."""


class ConfigurationError(VectraError):
    """Settings or installed packages do not allow the requested operation."""


class NotFoundError(VectraError):
    """The index or vector named does not exist."""


class AuthenticationError(VectraError):
    """The store rejected the credentials."""


class UnsupportedFeatureError(VectraError):
    """The provider cannot perform this operation."""

    def __init__(self, provider: str, feature: str) -> None:
        self.provider = provider
        self.feature = feature
        super().__init__(f"The {provider!r} provider does not support {feature}.")


class RateLimitError(VectraError):
    """The store asked us to slow down (HTTP 429)."""

    def __init__(self, message: str = "Rate limited", retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ServerError(VectraError):
    """The store failed on its side (HTTP 5xx or equivalent)."""

    def __init__(self, message: str = "Server error", status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class ConnectionError(VectraError):
    """The store could not be reached, or the connection broke mid-operation."""


class PoolTimeoutError(ConnectionError):
    """No pooled connection became available within POOL_TIMEOUT."""


class TimeoutError(VectraError):
    """The operation exceeded its time limit (statement timeout, request timeout)."""


__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ConnectionError",
    "NotFoundError",
    "PoolTimeoutError",
    "RateLimitError",
    "ServerError",
    "TimeoutError",
    "UnsupportedFeatureError",
    "ValidationError",
    "VectraError",
]
