"""Our filter tree as a Qdrant ``Filter``, scoped to the metadata payload key."""

from __future__ import annotations

from typing import Any

from ...client.filters import And, Condition, Node, Or
from .payload import METADATA_KEY


def compile_filter(node: Node) -> Any:
    """Our filter tree as a Qdrant ``Filter`` over the nested ``metadata`` payload."""
    from qdrant_client import models as m

    if isinstance(node, And):
        return m.Filter(must=[compile_filter(child) for child in node.children])
    if isinstance(node, Or):
        return m.Filter(should=[compile_filter(child) for child in node.children])
    return _condition(node)


def _equals(key: str, value: Any) -> Any:
    """A condition true when ``key`` holds ``value``, with our type-aware equality."""
    from qdrant_client import models as m

    if isinstance(value, bool | str):
        return m.FieldCondition(key=key, match=m.MatchValue(value=value))
    # A range pins numbers of either JSON type (1 == 1.0) and never matches a boolean.
    return m.FieldCondition(key=key, range=m.Range(gte=value, lte=value))


def _condition(cond: Condition) -> Any:
    from qdrant_client import models as m

    key = f"{METADATA_KEY}.{cond.key}"
    op, value = cond.op, cond.value
    if op == "$exists":
        # Qdrant's "empty" is missing, null or []; null counts as present for us.
        missing = m.Filter(
            must=[m.IsEmptyCondition(is_empty=m.PayloadField(key=key))],
            must_not=[m.IsNullCondition(is_null=m.PayloadField(key=key))],
        )
        return m.Filter(must_not=[missing]) if value else missing
    if op == "$eq":
        return m.Filter(must=[_equals(key, value)])
    if op == "$ne":
        return m.Filter(must_not=[_equals(key, value)])
    if op == "$in":
        return m.Filter(should=[_equals(key, v) for v in value])
    if op == "$nin":
        return m.Filter(must_not=[_equals(key, v) for v in value])
    bounds = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}
    return m.Filter(must=[m.FieldCondition(key=key, range=m.Range(**{bounds[op]: value}))])
