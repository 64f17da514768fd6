"""The ``Embedder`` protocol and ``get_embedder``, which resolves the ``embedder=`` option.

An embedder is anything with a ``dimension`` and an ``embed(texts)`` returning a float32
array of shape ``(len(texts), dimension)`` whose rows have unit length, so cosine
similarity is a plain dot product.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigurationError
from .hashing import HashingEmbedder


@runtime_checkable
class Embedder(Protocol):
    """What ``VectorField(embedder=...)``, the demo and ``get_embedder`` expect.

    ``embed`` returns a float32 array of shape ``(len(texts), dimension)`` with
    L2-normalised rows (an all-zero row is allowed for a text with no usable content);
    ``embed_one`` returns one such row. Implementations must be deterministic for a given
    configuration and safe to call from several threads.
    """

    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed each text: a float32 ``(len(texts), dimension)`` array, rows normalised."""
        ...

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text: a float32 vector of length ``dimension``."""
        ...


def embedder_identity(embedder: Any) -> str:
    """A stable id of what makes an embedder's vectors: its ``identity`` when it has one,
    else its class, its ``model_name`` (if any) and its dimension. Recorded with a field's
    vectors, it tells when the configured embedder no longer made what is stored."""
    identity = getattr(embedder, "identity", None)
    if isinstance(identity, str) and identity:
        return identity
    kind = type(embedder)
    model = getattr(embedder, "model_name", None)
    parts = [f"{kind.__module__}.{kind.__qualname__}", *([str(model)] if model else [])]
    return ":".join([*parts, str(embedder.dimension)])


def get_embedder(spec: Any = None) -> Embedder:
    """Return an embedder for ``spec``: an instance, a class, a factory or a dotted path.

    ``None`` gives ``HashingEmbedder()``. A class or factory is called with no arguments;
    a dotted path (``"myapp.embedding.MyEmbedder"``) is imported first. Anything that is
    not an embedder in the end is a ``ConfigurationError``.
    """
    if spec is None:
        return HashingEmbedder()
    if isinstance(spec, str):
        from django.utils.module_loading import import_string

        try:
            spec = import_string(spec)
        except ImportError as exc:
            raise ConfigurationError(f"Cannot import the embedder {spec!r}: {exc}") from exc
    if isinstance(spec, type) or (callable(spec) and not _is_embedder(spec)):
        try:
            spec = spec()
        except TypeError as exc:
            raise ConfigurationError(f"Cannot build an embedder from {spec!r}: {exc}") from exc
    if not _is_embedder(spec):
        raise ConfigurationError(
            f"{spec!r} is not an embedder: it needs a 'dimension' and an 'embed(texts)' method."
        )
    return spec


def _is_embedder(obj: Any) -> bool:
    return (
        not isinstance(obj, type)
        and callable(getattr(obj, "embed", None))
        and isinstance(getattr(obj, "dimension", None), int)
    )
