"""``VectorField``: a vector stored on the row, plus the options that say where it is searched.

The column is ``vector(n)`` on PostgreSQL (pgvector) and the same ``[x,y,...]`` text on other
databases. Values read back as ``list[float]`` (as pgvector-python's own field does), so
``==`` and truthiness behave like any list; assigning a list, tuple, NumPy array or
``pgvector.Vector`` is validated on the spot (dimension, finiteness) and stored as float32,
so what you assign is exactly what you read back after a save.

Errors: assigning or saving a bad vector raises :class:`vectra_django.errors.ValidationError`
(a ``ValueError``, like any bad value handed to the ORM); ``full_clean()`` and forms report
Django's own ``ValidationError`` on the field, as every model field does.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any

import numpy as np
from django import forms
from django.core import checks, exceptions
from django.db import connections
from django.db.models import Model
from django.db.models.query_utils import DeferredAttribute
from pgvector import Vector as PgVector
from pgvector.django import VectorField as PgVectorField

from . import validation
from .errors import ConfigurationError, ValidationError
from .metrics import METRICS

if TYPE_CHECKING:
    from .client import Client

PGVECTOR_PATHS = {"pgvector", "vectra_django.providers.pgvector.PgvectorProvider"}


def vector_id(model: type[Model] | Model, pk: Any) -> str:
    """The id a row's vector has in every index: ``f"{db_table}_{pk}"``."""
    return f"{model._meta.db_table}_{pk}"


def pk_from_vector_id(model: type[Model], vid: str) -> Any:
    """The primary key encoded in ``vid``, or ``None`` when it belongs to another table."""
    prefix = f"{model._meta.db_table}_"
    if not vid.startswith(prefix):
        return None
    try:
        return model._meta.pk.to_python(vid[len(prefix) :])
    except exceptions.ValidationError:
        return None


def vector_fields(model: type[Model] | Model) -> list[VectorField]:
    """The model's vector fields in declaration order (the first is the default)."""
    return [f for f in model._meta.concrete_fields if isinstance(f, VectorField)]


def metadata_value(value: Any) -> Any:
    """A model value as JSON metadata: scalars as they are, everything else as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if type(value).__name__ == "Decimal":
        return float(value)
    return str(value)


class VectorDescriptor(DeferredAttribute):
    """Validates on assignment, so a bad vector fails where it is set, not at commit."""

    def __set__(self, instance: Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = self.field.coerce(value)


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


class VectorField(PgVectorField):
    """A vector column and the index options used to search it.

    ``provider`` names a ``VECTRA`` alias. When that alias is pgvector on the model's own
    database the column *is* the index and searches run in place; otherwise the vector is
    copied to the provider's ``index`` (default ``"<db_table>_<field name>"``) under the id
    ``f"{db_table}_{pk}"`` with ``metadata_fields`` as metadata, after each commit
    (``auto_index=False`` turns that off). Only ``dimensions`` reaches migrations: the
    other options change no column, so editing them never produces a migration.
    """

    descriptor_class = VectorDescriptor
    description = "Vector"

    def __init__(
        self,
        *args: Any,
        dimensions: int | None = None,
        provider: str = "default",
        index: str | None = None,
        auto_index: bool = True,
        metadata_fields: tuple[str, ...] | list[str] = (),
        metric: str = "cosine",
        namespace: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.provider = provider
        self.index = index
        self.auto_index = auto_index
        self.metadata_fields = tuple(metadata_fields)
        self.metric = metric
        self.namespace = namespace
        super().__init__(*args, dimensions=dimensions, **kwargs)

    # -- column ---------------------------------------------------------------------------

    def db_type(self, connection: Any) -> str:
        if connection.vendor == "postgresql":
            return super().db_type(connection)
        return "text"

    def coerce(self, value: Any) -> list[float] | None:
        """``value`` as a validated list of float32 values; ``None`` stays ``None``."""
        if value is None:
            return None
        if isinstance(value, str):
            value = _parse_text(value, self._label())
        elif isinstance(value, PgVector):
            value = value.to_numpy()
        what = self._label()
        array = validation.as_array(value, expected_dimension=self.dimensions, what=what)
        return array.tolist()

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> list[float] | None:
        return _from_db(value)

    def to_python(self, value: Any) -> list[float] | None:
        try:
            return self.coerce(value)
        except ValidationError as exc:
            raise exceptions.ValidationError(str(exc), code="invalid") from exc

    def get_prep_value(self, value: Any) -> str | None:
        value = self.coerce(value)
        return None if value is None else PgVector._to_db(value)

    def formfield(self, **kwargs: Any) -> forms.Field:
        # Skip pgvector's formfield, which would drop ``model_field``.
        return super(PgVectorField, self).formfield(
            **{"form_class": VectorFormField, "model_field": self, **kwargs}
        )

    def _label(self) -> str:
        model = getattr(self, "model", None)
        return f"{model._meta.label}.{self.name}" if model is not None else "vector"

    # -- index options --------------------------------------------------------------------

    @property
    def index_name(self) -> str:
        """The provider index this field syncs to (remote mode).

        Without ``index=``, ``<db_table>_<field>`` as the alias's store accepts it (Pinecone
        has no ``_`` in index names, for one).
        """
        if self.index:
            return self.index
        name = re.sub(r"[^a-z0-9_-]", "_", f"{self.model._meta.db_table}_{self.name}".lower())
        return self._provider_class().default_index_name(name[:63])

    def _provider_class(self) -> Any:
        """The provider class behind the field's alias; the base one if it is unusable."""
        from .providers import BaseProvider, load

        try:
            cls = load(str((self.provider_config() or {})["PROVIDER"]))
        except (ConfigurationError, KeyError):
            return BaseProvider  # the system checks report the alias
        return cls if hasattr(cls, "default_index_name") else BaseProvider

    def provider_config(self) -> dict[str, Any] | None:
        from .connections import clients

        return clients.settings.get(self.provider)

    def is_inline(self, using: str) -> bool:
        """Whether searches run in place: pgvector on the same database as the rows."""
        config = self.provider_config() or {}
        return (
            config.get("PROVIDER") in PGVECTOR_PATHS
            and not config.get("URL")
            and config.get("DATABASE", "default") == using
            and connections[using].vendor == "postgresql"
        )

    def client(self) -> Client:
        from .connections import clients

        return clients[self.provider]

    def metadata_for(self, instance: Model) -> dict[str, Any]:
        """The declared metadata fields of ``instance``; NULLs are left out (absent keys)."""
        meta = {}
        for name in self.metadata_fields:
            field = instance._meta.get_field(name)
            value = metadata_value(getattr(instance, field.attname))
            if value is not None:
                meta[name] = value
        return meta

    def sync_fields(self) -> set[str]:
        """Names and attnames whose change requires a re-sync (for ``update_fields``)."""
        names = {self.name, self.attname}
        for name in self.metadata_fields:
            names.add(name)
            with contextlib.suppress(exceptions.FieldDoesNotExist):
                names.add(self.model._meta.get_field(name).attname)
        return names

    # -- checks ---------------------------------------------------------------------------

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [*super().check(**kwargs), *self._check_options()]

    def _check_options(self) -> list[checks.CheckMessage]:
        from .connections import clients

        errors: list[checks.CheckMessage] = []
        dims = self.dimensions
        if isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= 16000:
            errors.append(
                checks.Error(
                    f"VectorField needs dimensions= between 1 and 16000, got {dims!r}.",
                    obj=self,
                    id="vectra_django.E010",
                )
            )
        if self.metric not in METRICS:
            errors.append(
                checks.Error(
                    f"Unknown metric {self.metric!r}.",
                    hint=f"Use one of {', '.join(METRICS)}.",
                    obj=self,
                    id="vectra_django.E011",
                )
            )
        try:
            configured = clients.settings
        except Exception as exc:  # a broken VECTRA setting is reported, not raised
            configured = {}
            errors.append(checks.Error(str(exc), obj=self, id="vectra_django.E001"))
        if self.provider not in configured:
            errors.append(
                checks.Error(
                    f"VectorField uses the VECTRA alias {self.provider!r}, which is not "
                    "configured.",
                    hint=f"Add it to settings.VECTRA or use one of {sorted(configured)}.",
                    obj=self,
                    id="vectra_django.E001",
                )
            )
        for name in self.metadata_fields:
            try:
                field = self.model._meta.get_field(name)
            except exceptions.FieldDoesNotExist:
                field = None
            if field is None or not getattr(field, "concrete", False):
                errors.append(
                    checks.Error(
                        f"metadata_fields names {name!r}, which is not a field of "
                        f"{self.model._meta.label}.",
                        hint="List concrete fields of the model (foreign keys store their id).",
                        obj=self,
                        id="vectra_django.E002",
                    )
                )
        for label, check in (("index", validation.index_name), ("namespace", validation.namespace)):
            value = self.index if label == "index" else self.namespace
            if value is None:
                continue
            try:
                check(value)
            except ValidationError as exc:
                errors.append(checks.Error(str(exc), obj=self, id="vectra_django.E012"))
        return errors


def _parse_text(value: str, what: str) -> list[float]:
    text = value.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise ValidationError(f"{what}: expected text like '[1.0,2.0]', got {value[:40]!r}.")
    try:
        return [float(v) for v in text[1:-1].split(",")] if text[1:-1].strip() else []
    except ValueError as exc:
        raise ValidationError(f"{what}: {exc}.") from exc


def _from_db(value: Any) -> list[float] | None:
    # psycopg returns text unless pgvector's adapters are registered on the connection,
    # in which case it returns a NumPy array: accept both.
    if value is None:
        return None
    if isinstance(value, str):
        value = PgVector._from_text(value)
    elif isinstance(value, PgVector):
        return value.to_list()
    # float32, as stored: PostgreSQL prints the shortest text, which parses to float64.
    return np.asarray(value, dtype=np.float32).tolist()
