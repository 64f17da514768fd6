"""``VectorFormField``: the form field of a ``VectorField``, in pgvector's text form."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from django import forms
from pgvector import Vector as PgVector

from ..errors import ValidationError

if TYPE_CHECKING:
    from .fields import VectorField


class VectorFormField(forms.CharField):
    """Accepts the ``[1.0,2.0,...]`` text form and checks it like the model field does."""

    def __init__(self, *, model_field: VectorField | None = None, **kwargs: Any) -> None:
        self.model_field = model_field
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple | np.ndarray):
            return PgVector._to_db(list(np.asarray(value, dtype=np.float32).tolist()))
        return value

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        if self.model_field is None:
            return value
        try:
            return self.model_field.coerce(value)
        except ValidationError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc
