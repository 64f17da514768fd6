"""The portable filter language: parsed once into a small tree, compiled per provider.

Mongo-style, the same on every store::

    {"category": "news"}                         # $eq
    {"category": ["news", "blog"]}               # $in
    {"year": {"$gte": 2020, "$lt": 2025}}        # several operators on one key: all must hold
    {"$or": [{"status": "draft"}, {"pinned": True}]}

Semantics: a missing key fails ``$eq $gt $gte $lt $lte $in`` and passes ``$ne $nin``;
equality is type-aware (``True`` never equals ``1``; ``1`` equals ``1.0``); range operators
take numbers only; keys are identifier-like. Anything else is a :class:`ValidationError`
naming the offending key or operator, raised before the store is touched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..errors import ValidationError

KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # the whole key: KEY_RE.fullmatch
MAX_KEY_LENGTH = 128
MAX_DEPTH = 32  # nested $and/$or levels: deeper is a ValidationError, not a RecursionError
COMPARISON_OPS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"})
RANGE_OPS = frozenset({"$gt", "$gte", "$lt", "$lte"})
LOGICAL_OPS = frozenset({"$and", "$or"})

Scalar: TypeAlias = str | int | float | bool


@dataclass(frozen=True, slots=True)
class Condition:
    """``key <op> value``; ``value`` is a scalar, a tuple of scalars ($in/$nin) or a bool."""

    key: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


Node: TypeAlias = Condition | And | Or


def parse(spec: Mapping[str, Any] | Node | None) -> Node | None:
    """Validate a filter and return its tree; ``None`` or ``{}`` mean no filter."""
    if spec is None or isinstance(spec, Condition | And | Or):
        return spec
    if not isinstance(spec, Mapping):
        raise ValidationError(f"Filter must be a dict, got {type(spec).__name__}.")
    if not spec:
        return None
    return _parse_mapping(spec, "filter", 0)


def _parse_mapping(spec: Any, where: str, depth: int) -> Node:
    if not isinstance(spec, Mapping) or not spec:
        raise ValidationError(f"{where}: expected a non-empty dict, got {spec!r}.")
    nodes: list[Node] = []
    for key, value in spec.items():
        if not isinstance(key, str):
            raise ValidationError(f"{where}: filter keys must be strings, got {key!r}.")
        if key.startswith("$"):
            nodes.append(_parse_logical(key, value, where, depth))
        else:
            nodes.extend(_parse_field(_check_key(key), value))
    return nodes[0] if len(nodes) == 1 else And(tuple(nodes))


def _parse_logical(op: str, value: Any, where: str, depth: int) -> Node:
    if op not in LOGICAL_OPS:
        hint = " (comparison operators go inside a field: {'field': {op: value}})"
        raise ValidationError(
            f"{where}: unknown operator {op!r}"
            + (hint if op in COMPARISON_OPS else f"; expected one of {sorted(LOGICAL_OPS)}.")
        )
    if not isinstance(value, list | tuple) or not value:
        raise ValidationError(f"{where}: {op} takes a non-empty list of filters.")
    if depth >= MAX_DEPTH:
        raise ValidationError(
            f"{where}: $and/$or nested more than {MAX_DEPTH} levels deep; flatten the filter."
        )
    children = tuple(
        _parse_mapping(v, f"{where}.{op}[{i}]", depth + 1) for i, v in enumerate(value)
    )
    if len(children) == 1:
        return children[0]
    return And(children) if op == "$and" else Or(children)


def _check_key(key: str) -> str:
    if len(key) > MAX_KEY_LENGTH or not KEY_RE.fullmatch(key):
        raise ValidationError(
            f"Invalid filter key {key!r}: keys must match [A-Za-z_][A-Za-z0-9_]* "
            f"(at most {MAX_KEY_LENGTH} characters)."
        )
    return key


def _parse_field(key: str, value: Any) -> list[Node]:
    if isinstance(value, Mapping):
        if not value:
            raise ValidationError(f"Filter on {key!r}: empty operator dict.")
        return [_condition(key, op, operand) for op, operand in value.items()]
    if isinstance(value, list | tuple):
        return [_condition(key, "$in", value)]
    return [_condition(key, "$eq", value)]


def _condition(key: str, op: Any, operand: Any) -> Condition:
    if op not in COMPARISON_OPS:
        raise ValidationError(
            f"Filter on {key!r}: unknown operator {op!r}; expected one of {sorted(COMPARISON_OPS)}."
        )
    if op == "$exists":
        if not isinstance(operand, bool):
            raise ValidationError(
                f"Filter on {key!r}: $exists takes true or false, got {operand!r}."
            )
        return Condition(key, op, operand)
    if op in ("$in", "$nin"):
        if not isinstance(operand, list | tuple) or not operand:
            raise ValidationError(
                f"Filter on {key!r}: {op} takes a non-empty list, got {operand!r}."
            )
        return Condition(key, op, tuple(_scalar(key, op, v) for v in operand))
    if op in RANGE_OPS:
        if not _is_number(operand):
            raise ValidationError(
                f"Filter on {key!r}: {op} compares numbers only, got {operand!r}."
            )
        return Condition(key, op, operand)
    return Condition(key, op, _scalar(key, op, operand))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _scalar(key: str, op: str, value: Any) -> Scalar:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError(f"Filter on {key!r}: {op} value contains a NUL character.")
        return value
    if isinstance(value, bool) or _is_number(value):
        return value
    raise ValidationError(
        f"Filter on {key!r}: {op} takes a string, number or boolean, got {value!r}."
    )


# -- helpers shared by providers -----------------------------------------------------------


def keys(node: Node | None) -> set[str]:
    """Every metadata key a filter tree mentions."""
    if node is None:
        return set()
    if isinstance(node, Condition):
        return {node.key}
    return set().union(*(keys(child) for child in node.children))


def values_equal(a: Any, b: Any) -> bool:
    """Type-aware equality: booleans equal only booleans, numbers compare by value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b


_MISSING = object()


def evaluate(node: Node | None, metadata: Mapping[str, Any] | None) -> bool:
    """Whether ``metadata`` satisfies ``node``; the reference semantics, used by memory."""
    if node is None:
        return True
    if isinstance(node, And):
        return all(evaluate(child, metadata) for child in node.children)
    if isinstance(node, Or):
        return any(evaluate(child, metadata) for child in node.children)
    actual = (metadata or {}).get(node.key, _MISSING)
    op, expected = node.op, node.value
    if op == "$exists":
        return (actual is not _MISSING) is expected
    if op == "$ne":
        return actual is _MISSING or not values_equal(actual, expected)
    if op == "$nin":
        return actual is _MISSING or not any(values_equal(actual, v) for v in expected)
    if actual is _MISSING:
        return False
    if op == "$eq":
        return values_equal(actual, expected)
    if op == "$in":
        return any(values_equal(actual, v) for v in expected)
    if not _is_number(actual):
        return False
    if op == "$gt":
        return actual > expected
    if op == "$gte":
        return actual >= expected
    if op == "$lt":
        return actual < expected
    return actual <= expected
