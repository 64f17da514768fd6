"""A vector value on a model instance: validated when assigned, parsed when read back."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Model
from django.db.models.query_utils import DeferredAttribute
from pgvector import HalfVector
from pgvector import Vector as PgVector

from ..embedders import is_tracked, remember_source
from ..errors import ValidationError


class Stored(list):
    """A vector just read from the database: already float32 and checked by the column."""

    __slots__ = ()


class VectorDescriptor(DeferredAttribute):
    """Validates on assignment, so a bad vector fails where it is set, not at commit.

    Values loaded from the database skip the check (the column guarantees the dimension and
    finiteness) and are stored as plain lists.
    """

    def __set__(self, instance: Model, value: Any) -> None:
        field = self.field
        if type(value) is Stored:  # loaded: checked by the column, tracked by post_init
            instance.__dict__[field.attname] = list(value)
            return
        value = field.coerce(value)
        instance.__dict__[field.attname] = value
        # An assigned vector belongs to the current source text: saving keeps it until the
        # text changes. Not during __init__, where later fields are not set yet.
        if value is not None and field.source is not None and is_tracked(instance):
            remember_source(instance, field.source, field.attname)


def parse_text(value: str, what: str) -> list[float]:
    text = value.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise ValidationError(f"{what}: expected text like '[1.0,2.0]', got {value[:40]!r}.")
    try:
        return [float(v) for v in text[1:-1].split(",")] if text[1:-1].strip() else []
    except ValueError as exc:
        raise ValidationError(f"{what}: {exc}.") from exc


def from_db(value: Any) -> list[float] | None:
    # psycopg returns text unless pgvector's adapters are registered on the connection,
    # in which case it returns a NumPy array or a pgvector.Vector: accept all three.
    if value is None:
        return None
    if isinstance(value, str):
        # float32, as stored: PostgreSQL prints the shortest text for each float32, and
        # parsing straight to float32 gives back exactly the stored values.
        array = np.fromstring(value[1:-1], dtype=np.float32, sep=",")
    elif isinstance(value, PgVector | HalfVector):
        array = np.asarray(value.to_numpy(), dtype=np.float32)
    else:
        array = np.asarray(value, dtype=np.float32)
    return Stored(array.tolist())


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def metadata_value(value: Any) -> Any:
    """A model value as JSON metadata: scalars as they are, everything else as text."""
    if type(value) in _JSON_SCALARS or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if type(value).__name__ == "Decimal":
        return float(value)
    return str(value)
