"""Building the Pinecone SDK's clients, and reading its index descriptions."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from ... import errors
from ...client.redaction import redact
from .errors import map_errors
from .records import DENSE_FIELD

logger = logging.getLogger("vectra_django.providers.pinecone")


def control_client(
    *,
    api_key: str | None,
    host: str | None,
    timeout: float,
    ssl_verify: bool,
    source_tag: str | None,
    pool_size: int | None,
    pool_threads: int | None,
) -> Any:
    """The SDK's control-plane client, with the SDK's own retries off (ours are the only
    ones); a missing SDK or key is a ``ConfigurationError``."""
    try:
        import pinecone
    except ImportError as exc:
        raise errors.ConfigurationError(
            "The pinecone provider needs the Pinecone SDK: pip install pinecone "
            "(the pinecone extra)."
        ) from exc
    kwargs: dict[str, Any] = {
        "api_key": api_key,
        "host": host,
        "timeout": timeout,
        "ssl_verify": ssl_verify,
        "source_tag": source_tag or "vectra_django",
        "retry_config": pinecone.RetryConfig(max_retries=0),
    }
    if pool_size:
        kwargs["connection_pool_maxsize"] = int(pool_size)
    if pool_threads:
        kwargs["pool_threads"] = int(pool_threads)
    with map_errors(api_key):
        try:
            return pinecone.Pinecone(**kwargs)
        except pinecone.PineconeValueError as exc:
            raise errors.ConfigurationError(
                f"Pinecone is not configured: {redact(str(exc), api_key)}"
            ) from exc


def describe(model: Any) -> dict[str, Any]:
    """An SDK index model as our description; a document index (no dense field) is
    unsupported."""
    dense = getattr(model.schema, "fields", {}).get(DENSE_FIELD)
    if dense is None:
        raise errors.UnsupportedFeatureError(
            "pinecone",
            f"index {model.name!r}, which has no dense '{DENSE_FIELD}' field (a document index)",
        )
    metric = str(dense.metric).lower()
    deployment = model.deployment
    return {
        "name": model.name,
        "dimension": int(dense.dimension),
        "metric": metric,
        "host": model.host,
        "ready": bool(model.status.ready),
        "state": model.status.state,
        "cloud": getattr(deployment, "cloud", None),
        "region": getattr(deployment, "region", None),
    }


def single_attempt(client: Any) -> None:
    """Turn off the SDK's data-plane retries, which its constructor gives no way to set.

    Two retry loops would multiply attempts and stack ``Retry-After`` waits; the client's
    policy is the one users configure. If the SDK's internals change, we keep its retries.
    """
    try:
        from pinecone import RetryConfig
        from pinecone._internal.http_client import HTTPClient

        config = dataclasses.replace(client._config, retry_config=RetryConfig(max_retries=0))
        old = client._http
        client._http = HTTPClient(config, old._headers["X-Pinecone-Api-Version"])
        old.close()
    except (ImportError, AttributeError, KeyError, TypeError) as exc:  # pragma: no cover
        logger.debug("Keeping the Pinecone SDK's own data-plane retries: %s", exc)


def wait_for(
    describe_index: Callable[[str], dict[str, Any]],
    name: str,
    done: Callable[[dict[str, Any] | None], bool],
    what: str,
    timeout: float,
    interval: float,
) -> None:
    """Poll ``describe_index(name)`` (``None`` once it is gone) until ``done``; Pinecone
    creates and deletes indexes in the background. ``what`` ends "did not ... in time"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            description: dict[str, Any] | None = describe_index(name)
        except errors.NotFoundError:
            description = None
        if done(description):
            return
        if time.monotonic() >= deadline:
            raise errors.TimeoutError(
                f"Pinecone index {name!r} did not {what} within {timeout:g}s."
            )
        time.sleep(interval)
