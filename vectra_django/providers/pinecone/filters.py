"""Our filter tree in Pinecone's Mongo-style dialect, with exactly our semantics."""

from __future__ import annotations

from typing import Any

from ... import errors
from ...client.filters import And, Condition, Node, Or
from .text import TEXT_KEY


def compile_filter(node: Node | None) -> dict[str, Any] | None:
    """Our filter tree as a Pinecone filter with exactly our semantics."""
    if node is None:
        return None
    if isinstance(node, And):
        return {"$and": [compile_filter(child) for child in node.children]}
    if isinstance(node, Or):
        return {"$or": [compile_filter(child) for child in node.children]}
    return _condition(node)


def _either(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {"$or": parts}


def _both(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _condition(cond: Condition) -> dict[str, Any]:
    key, op, value = cond.key, cond.op, cond.value
    if key == TEXT_KEY:
        # The record's text lives in metadata under this key; it is not metadata to filter on.
        raise errors.ValidationError(
            f"Filter key {key!r} is reserved for the record's text on Pinecone; "
            "filter on metadata keys only."
        )
    missing = {key: {"$exists": False}}
    if op == "$exists":
        return {key: {"$exists": value}}
    if op == "$eq":
        return {key: {"$eq": value}}
    if op == "$ne":
        return {"$or": [missing, {key: {"$ne": value}}]}
    if op == "$in":
        plain = [v for v in value if not isinstance(v, bool)]
        flags = [v for v in value if isinstance(v, bool)]
        parts = ([{key: {"$in": plain}}] if plain else []) + [{key: {"$eq": f}} for f in flags]
        return _either(parts)
    if op == "$nin":
        plain = [v for v in value if not isinstance(v, bool)]
        flags = [v for v in value if isinstance(v, bool)]
        parts = ([{key: {"$nin": plain}}] if plain else []) + [{key: {"$ne": f}} for f in flags]
        return {"$or": [missing, _both(parts)]}
    return {key: {op: value}}
