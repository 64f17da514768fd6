"""Distance metrics and the one score convention every provider follows.

Score is always higher-is-better: cosine similarity for ``cosine``, the inner product for
``dotproduct`` and ``1 / (1 + distance)`` for ``euclidean``. Providers report raw distances
in each store's own convention; these functions convert them.
"""

from __future__ import annotations

import math
from typing import Literal

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
