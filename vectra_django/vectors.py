"""numpy helpers for preparing and comparing vectors outside any store.

Each accepts one vector (1-D) or a matrix (2-D, one vector per row); the second argument of
the comparisons may be a matrix to compare one vector against many at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ValidationError


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


__all__ = ["cosine_similarity", "dot_product", "euclidean_distance", "normalize"]
