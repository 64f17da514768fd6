"""Distance math: the metrics, the one score convention every provider follows, and numpy
helpers to prepare and compare vectors outside any store.

Score is always higher-is-better: cosine similarity for ``cosine``, the inner product for
``dotproduct`` and ``1 / (1 + distance)`` for ``euclidean``. Providers report raw distances
in each store's own convention; these functions convert them.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from ..errors import ValidationError

Metric = Literal["cosine", "euclidean", "dotproduct"]
METRICS: tuple[Metric, ...] = ("cosine", "euclidean", "dotproduct")


def score_from_distance(metric: Metric, distance: float) -> float:
    """Turn a raw distance (pgvector's operators' convention) into the portable score.

    pgvector's ``<=>`` is 1 - cosine similarity, ``<->`` is the L2 distance and ``<#>`` is
    the negated inner product; the memory provider reports the same three.
    """
    if metric == "cosine":
        return 1.0 - distance
    if metric == "euclidean":
        return 1.0 / (1.0 + distance)
    return -distance


def distance_from_score(metric: Metric, score: float) -> float:
    """Inverse of :func:`score_from_distance`; used to push a score threshold into SQL."""
    if metric == "cosine":
        return 1.0 - score
    if metric == "euclidean":
        return math.inf if score <= 0 else 1.0 / score - 1.0
    return -score


def check_query_vector(metric: Metric, vector: Any) -> None:
    """A zero query vector has no direction: its cosine similarity with anything is
    undefined, so a cosine search with one is a ``ValidationError`` on every store (a
    stored zero vector, on the other hand, scores 0)."""
    if metric == "cosine" and not np.any(vector):
        raise ValidationError(
            "The query vector is all zeros: cosine similarity with it is undefined. "
            "Search with a non-zero vector."
        )


# -- comparing vectors outside any store: one vector (1-D) or a matrix (2-D, one per row) --


def _array(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
        raise ValidationError(f"Expected a vector or a matrix of vectors, got shape {arr.shape}.")
    return arr


def normalize(values: Any) -> np.ndarray:
    """Scale to unit L2 length (row by row for a matrix); zero vectors stay zero."""
    arr = _array(values)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    return np.divide(arr, norms, out=np.zeros_like(arr), where=norms > 0)


def dot_product(a: Any, b: Any) -> np.ndarray | float:
    result = _array(b) @ _array(a).T
    return float(result) if np.ndim(result) == 0 else result


def cosine_similarity(a: Any, b: Any) -> np.ndarray | float:
    """Cosine similarity in [-1, 1]; 0 where either vector is zero."""
    return dot_product(normalize(a), normalize(b))


def euclidean_distance(a: Any, b: Any) -> np.ndarray | float:
    diff = _array(b) - _array(a)
    result = np.linalg.norm(diff, axis=-1)
    return float(result) if np.ndim(result) == 0 else result
