"""Reciprocal Rank Fusion: one ranking from a vector leg and a text leg.

A row's fused score is the sum, over the legs that returned it, of ``weight / (k + rank)``
with ranks counted from 1. It needs no comparable scores (cosine similarity and a keyword
rank live on different scales), which is why every store fuses the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .results import Match


def rrf(
    vector_leg: Sequence[Match],
    text_leg: Sequence[Match],
    *,
    vector_weight: float,
    text_weight: float,
    k: int,
    top_k: int,
) -> list[Match]:
    """The ``top_k`` best of both legs (each best first), fused. Each match keeps the
    vector leg's distance, and carries ``vector_score`` and ``text_score`` (``None`` for a
    leg that did not return it); ties go to the smaller id, so the order is stable."""
    fused: dict[str, float] = {}
    vector_hits = {m.id: m for m in vector_leg}
    text_hits = {m.id: m for m in text_leg}
    for weight, leg in ((vector_weight, vector_leg), (text_weight, text_leg)):
        if weight == 0:
            continue
        for rank, match in enumerate(leg, start=1):
            fused[match.id] = fused.get(match.id, 0.0) + weight / (k + rank)
    best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:top_k]
    matches = []
    for vid, score in best:
        seen = vector_hits.get(vid)
        text_hit = text_hits.get(vid)
        base = seen if seen is not None else text_hit
        assert base is not None  # every fused id came from a leg
        matches.append(
            replace(
                base,
                score=score,
                distance=None if seen is None else seen.distance,
                vector_score=None if seen is None else seen.score,
                text_score=None if text_hit is None else text_hit.score,
            )
        )
    return matches
