"""Distance and score expressions for in-place searches, one pgvector operator per metric.

``distance()`` is the raw operator (``<=>``, ``<->``, ``<#>``), which is what an HNSW or
IVFFlat index can order by; ``score()`` turns it into the portable higher-is-better score
of :mod:`vectra_django.metrics`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from django.db.models import Expression, F, FloatField, Func, Value
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Cast, Coalesce, NullIf
from pgvector.django import BitField, CosineDistance, HammingDistance, L2Distance, MaxInnerProduct

from ...client.distance import Metric
from ...indexes import quantized_bits
from ...postgres import vector_text

# Shared: an unbound FloatField carries no state, and building one per search costs time.
_FLOAT = FloatField()
DISTANCES = {"cosine": CosineDistance, "euclidean": L2Distance, "dotproduct": MaxInnerProduct}


def distance(metric: Metric, expression: Any, vector: Any) -> Expression:
    """The raw distance between a column (or expression) and ``vector``."""
    if isinstance(expression, str):
        expression = F(expression)
    if not hasattr(vector, "resolve_expression"):
        vector = Value(vector_text(np.asarray(vector, dtype=np.float32).tolist()))
    return DISTANCES[metric](expression, vector)


class _QueryBits(Func):
    """``binary_quantize()`` of the query vector, typed so the server picks the function."""

    function = "binary_quantize"
    template = "%(function)s(%(expressions)s::vector)"


class _HalfQueryBits(_QueryBits):
    template = "%(function)s(%(expressions)s::halfvec)"


def hamming(column: str, vector: Any, dimensions: int, half: bool) -> Expression:
    """The Hamming distance between the sign bits of ``column`` and of ``vector``: what an
    index from :func:`~vectra_django.indexes.binary_quantized_index` orders by."""
    query = (_HalfQueryBits if half else _QueryBits)(vector, output_field=BitField())
    return HammingDistance(
        quantized_bits(F(column), dimensions),
        Cast(query, output_field=BitField(length=dimensions)),
    )


def reported_distance(metric: Metric, raw: Expression) -> Expression:
    """The distance a search reports: the raw one, except that a stored zero vector's cosine
    distance (NaN: it has no direction) is 1, so that its score is 0 as on every store.
    Order by the raw distance, which is what a vector index serves."""
    if metric != "cosine":
        return raw
    return Coalesce(
        NullIf(raw, Value(math.nan, output_field=_FLOAT)), Value(1.0), output_field=_FLOAT
    )


def score(metric: Metric, distance_expression: Any) -> Expression:
    """The portable score: cosine ``1 - d``, euclidean ``1 / (1 + d)``, dotproduct ``-d``."""
    d = F(distance_expression) if isinstance(distance_expression, str) else distance_expression
    one = Value(1.0, output_field=_FLOAT)
    if metric == "cosine":
        return CombinedExpression(one, "-", d, output_field=_FLOAT)
    if metric == "euclidean":
        return CombinedExpression(
            one, "/", CombinedExpression(one, "+", d, output_field=_FLOAT), output_field=_FLOAT
        )
    return CombinedExpression(Value(-1.0, output_field=_FLOAT), "*", d, output_field=_FLOAT)


__all__ = [
    "DISTANCES",
    "CosineDistance",
    "L2Distance",
    "MaxInnerProduct",
    "distance",
    "hamming",
    "reported_distance",
    "score",
]
