"""The portable filter language over model fields: ``filter=`` of an in-place search as a ``Q``.

Same semantics as every store: a NULL column is a missing key, equality is type-aware
(``True`` never equals ``1``), range operators compare numbers.
"""

from __future__ import annotations

import math
from typing import Any

from django.db import models
from django.db.models import Q

from ...client import filters
from ...errors import ValidationError
from ..fields import VectorField

TRUE = Q(pk__isnull=False)
FALSE = Q(pk__in=[])


def compile_q(model: type[models.Model], node: filters.Node | None) -> Q:
    """``node`` as a ``Q`` over ``model``'s concrete fields, with the portable semantics:
    a NULL column is a missing key, equality is type-aware, ranges compare numbers."""
    if node is None:
        return TRUE
    if isinstance(node, filters.And):
        q = TRUE
        for child in node.children:
            q &= compile_q(model, child)
        return q
    if isinstance(node, filters.Or):
        q = FALSE
        for child in node.children:
            q |= compile_q(model, child)
        return q
    field = _field(model, node.key)
    name, op, value = field.name, node.op, node.value
    kind = _kind(field)
    if op == "$exists":
        return Q(**{f"{name}__isnull": not value})
    if op in ("$eq", "$ne"):
        q = Q(**{name: value}) if _fits(kind, value) else FALSE
        return q if op == "$eq" else (~q if q is not FALSE else TRUE)
    if op in ("$in", "$nin"):
        fitting = [v for v in value if _fits(kind, v)]
        if op == "$in":
            return Q(**{f"{name}__in": fitting}) if fitting else FALSE
        return ~Q(**{f"{name}__in": fitting}) if fitting else TRUE
    if kind not in ("int", "number"):
        raise ValidationError(
            f"Filter on {node.key!r}: {op} compares numbers, but {model._meta.label}.{name} "
            f"is a {type(field).__name__}."
        )
    lookup, bound = _range(op, value, kind == "int")
    # A bound beyond the column's range makes Django drop the comparison as always true:
    # a NULL (a missing key) must still fail it.
    return Q(**{f"{name}__{lookup}": bound}) & Q(**{f"{name}__isnull": False})


def _field(model: type[models.Model], key: str) -> Any:
    for field in model._meta.concrete_fields:
        if key in (field.name, field.attname) and not isinstance(field, VectorField):
            return field
    names = sorted(f.name for f in model._meta.concrete_fields if not isinstance(f, VectorField))
    raise ValidationError(
        f"Filter key {key!r} is not a field of {model._meta.label}; filter on one of {names}."
    )


def _kind(field: Any) -> str:
    target = getattr(field, "target_field", None) if field.is_relation else field
    if isinstance(target, models.BooleanField):
        return "bool"
    if isinstance(target, models.IntegerField):  # includes the auto fields
        return "int"
    if isinstance(target, models.FloatField | models.DecimalField):
        return "number"
    if isinstance(target, models.CharField | models.TextField):
        return "text"
    return "other"


def _fits(kind: str, value: Any) -> bool:
    """Whether ``value`` can equal a value of this column (``True`` never equals ``1``)."""
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("int", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return kind == "number" or float(value).is_integer()
    if kind == "text":
        return isinstance(value, str)
    return True


def _range(op: str, value: float, integer: bool) -> tuple[str, float]:
    lookup = op[1:]
    if not integer or float(value).is_integer():
        return lookup, value
    # Integer columns with a fractional bound: move to the equivalent integer bound.
    if op == "$gt":
        return "gt", math.floor(value)
    if op == "$gte":
        return "gte", math.ceil(value)
    if op == "$lt":
        return "lt", math.ceil(value)
    return "lte", math.floor(value)
