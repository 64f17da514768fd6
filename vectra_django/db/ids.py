"""The id a row's vector has in every store: ``f"{db_table}_{pk}"``, and back."""

from __future__ import annotations

from typing import Any

from django.core import exceptions
from django.db.models import Model


def vector_id(model: type[Model] | Model, pk: Any) -> str:
    """The id a row's vector has in every index: ``f"{db_table}_{pk}"``."""
    return f"{model._meta.db_table}_{pk}"


def pk_from_vector_id(model: type[Model], vid: str) -> Any:
    """The primary key encoded in ``vid``, or ``None`` when it belongs to another table.

    Only the exact form :func:`vector_id` writes is accepted: ``int("2_5")`` is 25, so
    without the round trip ``testapp_note_2_5`` (row 5 of the table ``testapp_note_2``) would
    pass for row 25 of ``testapp_note``.
    """
    prefix = f"{model._meta.db_table}_"
    if not vid.startswith(prefix):
        return None
    try:
        pk = model._meta.pk.to_python(vid[len(prefix) :])
    except exceptions.ValidationError:
        return None
    return pk if vector_id(model, pk) == vid else None
