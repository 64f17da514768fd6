"""Pinecone's documented data semantics, written out exactly for the fake server.

Deliberately independent of ``vectra_django.filters``: the provider compiles our filter
language into Pinecone's, and this module judges the result the way Pinecone documents it.

- Metadata values are strings, numbers (stored as 64-bit floats), booleans or lists of
  strings; ``null`` is rejected. Numbers come back as floats.
- ``$eq``/``$ne`` take a number, string or boolean; ``$in``/``$nin`` a list of strings or
  numbers; ``$gt $gte $lt $lte`` a number; ``$exists`` a boolean. A field holding a list
  matches ``$eq``/``$in`` when any element does.
- Booleans are their own type: ``true`` never equals ``1``, and range operators only ever
  match numbers.
- Pinecone does not document what ``$ne`` and ``$nin`` do with a record that lacks the
  field; this fake takes the strict reading (the record does not match), so a provider has
  to say explicitly that a missing field passes.
- Scores: cosine similarity, the dot product, or the *squared* euclidean distance.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

MAX_METADATA_BYTES = 40 * 1024
_OPERATORS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"}


class FilterError(ValueError):
    """The filter is malformed; the server answers 400 with this message."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or (_is_number(value) and math.isfinite(value))


def metadata_bytes(metadata: Any) -> int:
    """The size Pinecone's 40 KB limit applies to: the metadata as compact UTF-8 JSON."""
    return len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())


def store_metadata(metadata: Any) -> dict[str, Any]:
    """Validate metadata as Pinecone does and return it as stored (numbers as floats)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise FilterError("Metadata must be a JSON object.")
    stored: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise FilterError(f"Metadata value for field '{key}' must be a list of strings.")
            stored[key] = list(value)
        elif isinstance(value, str | bool):
            stored[key] = value
        elif _is_number(value) and math.isfinite(value):
            stored[key] = float(value)
        elif value is None:
            raise FilterError(
                f"Metadata value for field '{key}' is null; null values are not supported."
            )
        else:
            raise FilterError(
                f"Metadata value for field '{key}' must be a string, number, "
                "boolean or list of strings."
            )
    return stored


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if _is_number(stored) and _is_number(wanted):
        return float(stored) == float(wanted)
    return isinstance(stored, str) and isinstance(wanted, str) and stored == wanted


def _any_same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, list):
        return any(_same(item, wanted) for item in stored)
    return _same(stored, wanted)


def check_filter(spec: Any) -> None:
    """Raise :class:`FilterError` for anything Pinecone would reject."""
    if not isinstance(spec, dict):
        raise FilterError("The filter must be a JSON object.")
    for key, value in spec.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise FilterError(f"{key} must be a non-empty array.")
            for child in value:
                check_filter(child)
        elif key.startswith("$"):
            raise FilterError(f"Unknown top-level operator {key}.")
        elif isinstance(value, dict):
            for op, operand in value.items():
                _check_operator(key, op, operand)
        elif not _is_scalar(value):
            raise FilterError(f"Invalid value for field '{key}'.")


def _check_operator(key: str, op: str, operand: Any) -> None:
    if op not in _OPERATORS:
        raise FilterError(f"Unknown operator {op} on field '{key}'.")
    if op in ("$in", "$nin"):
        if not isinstance(operand, list) or not operand:
            raise FilterError(f"{op} on field '{key}' needs a non-empty array.")
        if not all(isinstance(v, str) or (_is_number(v) and math.isfinite(v)) for v in operand):
            raise FilterError(f"{op} on field '{key}' supports only strings and numbers.")
    elif op in ("$gt", "$gte", "$lt", "$lte"):
        if not _is_number(operand):
            raise FilterError(f"{op} on field '{key}' supports only numbers.")
    elif op == "$exists":
        if not isinstance(operand, bool):
            raise FilterError(f"$exists on field '{key}' needs a boolean.")
    elif not _is_scalar(operand):
        raise FilterError(f"{op} on field '{key}' needs a string, number or boolean.")


def matches(spec: dict[str, Any] | None, metadata: dict[str, Any]) -> bool:
    """Whether a record's stored metadata satisfies a (checked) Pinecone filter."""
    if not spec:
        return True
    for key, value in spec.items():
        if key == "$and":
            ok = all(matches(child, metadata) for child in value)
        elif key == "$or":
            ok = any(matches(child, metadata) for child in value)
        elif isinstance(value, dict):
            ok = all(_apply(metadata, key, op, operand) for op, operand in value.items())
        else:
            ok = _apply(metadata, key, "$eq", value)
        if not ok:
            return False
    return True


def _apply(metadata: dict[str, Any], key: str, op: str, operand: Any) -> bool:
    present = key in metadata
    if op == "$exists":
        return present is operand
    if not present:
        return False
    stored = metadata[key]
    if op == "$eq":
        return _any_same(stored, operand)
    if op == "$ne":
        return not _any_same(stored, operand)
    if op == "$in":
        return any(_any_same(stored, v) for v in operand)
    if op == "$nin":
        return not any(_any_same(stored, v) for v in operand)
    if not _is_number(stored):
        return False
    if op == "$gt":
        return stored > operand
    if op == "$gte":
        return stored >= operand
    if op == "$lt":
        return stored < operand
    return stored <= operand


def scores(metric: str, matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Pinecone's score per row; the caller sorts descending except for euclidean."""
    if metric == "euclidean":
        diff = matrix - vector
        return np.einsum("ij,ij->i", diff, diff)
    dots = matrix @ vector
    if metric == "dotproduct":
        return dots
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(vector)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norms > 0, dots / norms, 0.0)
