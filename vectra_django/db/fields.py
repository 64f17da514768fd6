"""``VectorField``: a vector stored on the row, plus the options that say where it is searched.

The column is ``vector(n)`` on PostgreSQL (pgvector) and the same ``[x,y,...]`` text on other
databases. Values read back as ``list[float]`` (as pgvector-python's own field does), so
``==`` and truthiness behave like any list; assigning a list, tuple, NumPy array or
``pgvector.Vector`` is validated on the spot (dimension, finiteness) and stored as float32,
so what you assign is exactly what you read back after a save.

``source=`` and ``embedder=`` make the vector a computed value: it is embedded from the source
text before each save, and only when that text changed since the row was loaded or embedded
(a fingerprint of the text is kept on the instance, so a save that changes nothing costs no
embedding). ``VectorMixin.save(update_fields=...)`` and ``VectorQuerySet``'s ``bulk_create``
and ``bulk_update`` take part too.

Errors: assigning or saving a bad vector raises :class:`vectra_django.errors.ValidationError`
(a ``ValueError``, like any bad value handed to the ORM); ``full_clean()`` and forms report
Django's own ``ValidationError`` on the field, as every model field does.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from django import forms
from django.core import checks, exceptions
from django.core.signals import setting_changed
from django.db import connections, router
from django.db.models import Model, signals
from pgvector import HalfVector
from pgvector import Vector as PgVector
from pgvector.django import VectorField as PgVectorField

from ..client import validation
from ..client.registry import clients
from ..embedders import (
    Embedder,
    Source,
    embed_changed,
    get_embedder,
    source_names,
    track_source,
)
from ..errors import ConfigurationError, ValidationError
from ..postgres import vector_text
from . import field_checks, text
from .forms import VectorFormField
from .ids import pk_from_vector_id, vector_id
from .records import note_embedded
from .values import VectorDescriptor, from_db, metadata_value, parse_text

if TYPE_CHECKING:
    from ..client import Client

__all__ = [
    "VectorField",
    "embed_sources",
    "metadata_value",
    "pk_from_vector_id",
    "source_vector_fields",
    "vector_fields",
    "vector_id",
]

PGVECTOR_PATHS = {"pgvector", "vectra_django.providers.pgvector.PgvectorProvider"}


def vector_fields(model: type[Model] | Model) -> list[VectorField]:
    """The model's vector fields in declaration order (the first is the default)."""
    return [f for f in model._meta.concrete_fields if isinstance(f, VectorField)]


def source_vector_fields(model: type[Model] | Model) -> list[VectorField]:
    """The model's vector fields computed from a ``source`` (see ``VectorField``)."""
    return [f for f in vector_fields(model) if f.source is not None]


def embed_sources(
    model: type[Model], objs: Sequence[Model], fields: Collection[str] | None = None
) -> list[str]:
    """Compute the ``source=`` vectors of ``objs`` before a write of ``fields`` (``None``: all).

    A vector is computed when it is written or when ``fields`` may change its source text.
    Returns the vector fields that changed but are not in ``fields``: the caller adds them,
    or the stored vector would no longer match the stored text.
    """
    added = []
    for vf in source_vector_fields(model):
        writes = fields is None or vf.name in fields or vf.attname in fields
        if (writes or vf.reads(fields or ())) and vf.embed(objs) and not writes:
            added.append(vf.name)
    return added


class VectorField(PgVectorField):
    """A vector column and the index options used to search it.

    ``provider`` names a ``VECTRA`` alias. When that alias is pgvector on the model's own
    database the column *is* the index and searches run in place; otherwise the vector is
    copied to the provider's ``index`` (default ``"<db_table>_<field name>"``) under the id
    ``f"{db_table}_{pk}"`` with ``metadata_fields`` as metadata, after each commit
    (``auto_index=False`` turns that off).

    ``source`` (a field name, a tuple of field names joined with newlines, or a callable
    taking the instance) and ``embedder`` (an :class:`~vectra_django.embedders.Embedder`,
    its class or factory, or a dotted path to one) compute the vector on save, only when the
    source text changed; an empty text gives ``None``.

    ``precision="half"`` stores ``halfvec(n)`` (half the bytes; indexable up to 4,000
    dimensions, where ``vector`` stops at 2,000); ``quantization="binary"`` makes in-place
    searches go through an index on the vector's sign bits
    (:func:`~vectra_django.indexes.binary_quantized_index`) and re-rank its candidates by
    exact distance. ``text_search=True`` (the ``source`` fields) or ``text_search=("title",
    "body")`` adds a generated ``tsvector`` column ``<name>_text_search`` with a GIN index
    (:mod:`.text`, configuration ``text_config``) for ``text_search()`` and
    ``hybrid_search()``; synced stores get the same text with each record. Only
    ``dimensions`` and ``precision`` reach this field's migrations: the other options
    change no column of its own.
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
        source: Source | None = None,
        embedder: Any = None,
        precision: str = "single",
        quantization: str | None = None,
        text_search: bool | str | Sequence[str] = False,
        text_config: str = "english",
        **kwargs: Any,
    ) -> None:
        self.text_search = tuple(text_search) if isinstance(text_search, list) else text_search
        self.text_config = text_config
        self.precision = precision
        self.quantization = quantization
        self.provider = provider
        self.index = index
        self.auto_index = auto_index
        self.metadata_fields = tuple(metadata_fields)
        self.metric = metric
        self.namespace = namespace
        self.source = tuple(source) if isinstance(source, list) else source
        self.embedder = embedder
        self._embedder: tuple[int, Embedder] | None = None
        super().__init__(*args, dimensions=dimensions, **kwargs)

    # -- column ---------------------------------------------------------------------------

    def contribute_to_class(self, cls: type[Model], name: str, *args: Any, **kwargs: Any) -> None:
        super().contribute_to_class(cls, name, *args, **kwargs)
        text.add_text_column(self, cls)

    def deconstruct(self) -> Any:
        # Migrations name the public path, which stays put while the modules behind it move.
        name, _path, args, kwargs = super().deconstruct()
        if self.precision != "single":  # the column's type: the one other option they keep
            kwargs["precision"] = self.precision
        return name, "vectra_django.VectorField", args, kwargs

    def db_type(self, connection: Any) -> str:
        if connection.vendor != "postgresql":
            return "text"
        if self.precision == "half":
            return "halfvec" if self.dimensions is None else f"halfvec({int(self.dimensions)})"
        return super().db_type(connection)

    @property
    def half(self) -> bool:
        """Whether the column stores half-precision values (``halfvec``)."""
        return self.precision == "half"

    def coerce(self, value: Any) -> list[float] | None:
        """``value`` as a validated list of float32 values; ``None`` stays ``None``."""
        if value is None:
            return None
        if isinstance(value, str):
            value = parse_text(value, self.label)
        elif isinstance(value, PgVector | HalfVector):
            value = value.to_numpy()
        what = self.label
        array = validation.as_array(
            value,
            expected_dimension=self.dimensions,
            what=what,
            expected_by="the field (dimensions=) expects",
        )
        if self.half:  # what halfvec stores, so that what is read back equals what is set
            with np.errstate(over="ignore"):
                halved = array.astype(np.float16)
            if not np.isfinite(halved).all():
                raise ValidationError(
                    f"{what}: a value is beyond half precision's range (+-65504); "
                    "normalize the vector or use precision='single'."
                )
            array = halved.astype(np.float32)
        return array.tolist()

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> list[float] | None:
        return from_db(value)

    def to_python(self, value: Any) -> list[float] | None:
        try:
            return self.coerce(value)
        except ValidationError as exc:
            raise exceptions.ValidationError(str(exc), code="invalid") from exc

    def get_prep_value(self, value: Any) -> str | None:
        value = self.coerce(value)
        return None if value is None else vector_text(value)

    def value_to_string(self, obj: Model) -> str:
        # Serializers and fixtures are read by people: the shortest text, not nine digits.
        value = self.coerce(self.value_from_object(obj))
        return "" if value is None else PgVector._to_db(value)

    def formfield(self, **kwargs: Any) -> forms.Field:
        # Skip pgvector's formfield, which would drop ``model_field``.
        return super(PgVectorField, self).formfield(
            **{"form_class": VectorFormField, "model_field": self, **kwargs}
        )

    @property
    def label(self) -> str:
        """``app.Model.field``, as errors and checks name the field."""
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
        from ..providers import BaseProvider, load

        try:
            cls = load(str((self.provider_config() or {})["PROVIDER"]))
        except (ConfigurationError, KeyError):
            return BaseProvider  # the system checks report the alias
        return cls if hasattr(cls, "default_index_name") else BaseProvider

    def provider_config(self) -> dict[str, Any] | None:
        """The field's ``VECTRA`` alias settings, or ``None`` when the alias is missing."""
        return clients.settings.get(self.provider)

    def is_inline(self, using: str) -> bool:
        """Whether the column on ``using`` is the index: the alias's provider is pgvector on
        the rows' own database, the alias configured (``DATABASE``) or one that serves the
        rows written there (a read replica: the model's writes are routed to ``DATABASE``)."""
        config = self.provider_config() or {}
        if config.get("PROVIDER") not in PGVECTOR_PATHS or config.get("URL"):
            return False
        if connections[using].vendor != "postgresql":
            return False
        database = config.get("DATABASE", "default")
        return using == database or router.db_for_write(self.model) == database

    def client(self) -> Client:
        """The client of the field's ``VECTRA`` alias."""
        return clients[self.provider]

    def metadata_for(self, instance: Model) -> dict[str, Any]:
        """The declared metadata fields of ``instance``; NULLs are left out (absent keys)."""
        get = instance._meta.get_field
        return self.metadata_from([getattr(instance, get(n).attname) for n in self.metadata_fields])

    def metadata_from(self, values: Any) -> dict[str, Any]:
        """Metadata from the values of ``metadata_fields``, in order (as ``values_list``
        returns them); NULLs are left out."""
        meta = {}
        for name, raw in zip(self.metadata_fields, values, strict=True):
            value = metadata_value(raw)
            if value is not None:
                meta[name] = value
        return meta

    def sync_fields(self) -> set[str]:
        """Names and attnames whose change requires a re-sync (for ``update_fields``)."""
        names = {self.name, self.attname}
        for name in (*self.metadata_fields, *(text.text_fields(self) or ())):
            names.add(name)
            with contextlib.suppress(exceptions.FieldDoesNotExist):
                names.add(self.model._meta.get_field(name).attname)
        return names

    # -- computed vectors -----------------------------------------------------------------

    def get_embedder(self) -> Embedder:
        """The ``embedder`` option, resolved on first use and kept until a setting changes
        (so a factory that reads settings follows ``override_settings``)."""
        if self.embedder is None:
            if self.source is None:
                raise ConfigurationError(
                    f"{self.label} has no embedder=: declare source= and embedder= to compute "
                    "its vectors, or assign vectors yourself."
                )
            raise ConfigurationError(f"{self.label} has source= but no embedder=.")
        if self._embedder is None or self._embedder[0] != _settings_epoch[0]:
            self._embedder = (_settings_epoch[0], get_embedder(self.embedder))
        return self._embedder[1]

    def reads(self, fields: Collection[str]) -> bool:
        """Whether writing ``fields`` may change the source text (a callable may read any)."""
        if self.source is None:
            return False
        names = source_names(self.source)
        return bool(fields) if names is None else not set(names).isdisjoint(fields)

    def embed(self, instances: Iterable[Model]) -> int:
        """Compute the vector of each instance whose source text changed or that has none,
        in batched embedder calls; returns how many vectors changed."""
        if self.source is None:
            return 0
        embedder = self.get_embedder()
        changed = embed_changed(list(instances), self.source, self.attname, embedder)
        if changed:
            note_embedded(self, embedder)
        return changed

    # -- checks ---------------------------------------------------------------------------

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return [
            *super().check(**kwargs),
            *field_checks.option_errors(self),
            *field_checks.storage_errors(self),
            *field_checks.source_errors(self),
            *text.check_text_search(self),
        ]


# -- keeping computed vectors in step with their source ------------------------------------------

# Bumped by every settings change, so resolved embedders are resolved again.
_settings_epoch = [0]


def _settings_changed(**kwargs: Any) -> None:
    _settings_epoch[0] += 1


def _declared_source_fields(model: type[Model]) -> list[VectorField]:
    """Source vector fields of ``model``, its concrete model and their parents.

    Read from ``local_fields`` because ``class_prepared`` comes before the app registry
    knows the model, when ``_meta``'s cached field lists must not be filled yet.
    """
    concrete = model._meta.concrete_model or model
    owners = [concrete, *concrete._meta.get_parent_list()]
    return [
        f
        for owner in owners
        for f in owner._meta.local_fields
        if isinstance(f, VectorField) and f.source is not None
    ]


def _connect_sources(sender: type[Model], **kwargs: Any) -> None:
    """Fingerprint the source text of each loaded instance and embed before each save.

    Per model, proxies and multi-table children included (their instances send signals
    under their own class).
    """
    if sender._meta.abstract:
        return
    fields = _declared_source_fields(sender)
    for vf in fields:
        track_source(sender, vf.source, vf.attname)
    if fields:
        uid = f"vectra-embed:{sender._meta.label}"
        signals.pre_save.connect(_embed_before_save, sender=sender, dispatch_uid=uid)


def _embed_before_save(
    sender: type[Model], instance: Model, update_fields: Any = None, **kwargs: Any
) -> None:
    # Only vectors that are written: VectorMixin.save() has already added those whose source
    # is in update_fields (a vector computed but not written would no longer match its row).
    for vf in source_vector_fields(sender):
        if update_fields is None or not {vf.name, vf.attname}.isdisjoint(update_fields):
            vf.embed([instance])


signals.class_prepared.connect(_connect_sources, dispatch_uid="vectra_django.sources")
setting_changed.connect(_settings_changed, dispatch_uid="vectra_django.embedders")
