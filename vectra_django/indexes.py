"""Index types for ``Meta.indexes`` on vector columns, and the extension migration.

pgvector-python's own classes, re-exported so models import everything from one place::

    class Meta:
        indexes = [HnswIndex(name="doc_embedding_hnsw", fields=["embedding"], m=16,
                             ef_construction=64, opclasses=[opclass("cosine")])]

A half-precision field takes ``opclass("cosine", precision="half")``; a field with
``quantization="binary"`` takes :func:`binary_quantized_index`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.indexes import OpClass
from django.db.models import F, Func
from django.db.models.functions import Cast
from pgvector.django import BitField, HnswIndex, IvfflatIndex, VectorExtension

from .postgres import OPCLASSES, opclass


class BinaryQuantize(Func):
    """``binary_quantize(vector)``: one bit per dimension, set where the value is positive."""

    function = "binary_quantize"
    output_field = BitField()


def quantized_bits(expression: Any, dimensions: int) -> Cast:
    """``binary_quantize(expression)::bit(dimensions)``, the expression the index is on."""
    return Cast(BinaryQuantize(expression), output_field=BitField(length=dimensions))


def binary_quantized_index(
    field: str, dimensions: int, *, name: str, m: int = 16, ef_construction: int = 64
) -> HnswIndex:
    """An HNSW index over the sign bits of ``field``'s vectors (Hamming distance): about a
    32nd of a ``vector`` index's size, for a field declared with ``quantization="binary"``
    (its searches re-rank the index's candidates by exact distance)."""
    return HnswIndex(
        OpClass(quantized_bits(F(field), dimensions), name="bit_hamming_ops"),
        name=name,
        m=m,
        ef_construction=ef_construction,
    )


__all__ = [
    "OPCLASSES",
    "BinaryQuantize",
    "HnswIndex",
    "IvfflatIndex",
    "VectorExtension",
    "binary_quantized_index",
    "opclass",
    "quantized_bits",
]
