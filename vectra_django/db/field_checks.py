"""The system checks of one ``VectorField``: its options, its alias and its ``source``.

Run by ``VectorField.check()`` (``manage.py check``); database checks live in
:mod:`vectra_django.checks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core import checks, exceptions
from django.db.models import Model
from pgvector.django import VectorField as PgVectorField

from ..client import validation
from ..client.distance import METRICS
from ..client.registry import clients
from ..errors import ValidationError
from ..indexes import HnswIndex, IvfflatIndex
from ..postgres import PRECISIONS, QUANTIZATIONS, max_indexed_dimensions

if TYPE_CHECKING:
    from .fields import VectorField


def source_errors(vf: VectorField) -> list[checks.CheckMessage]:
    if vf.source is None and vf.embedder is None:
        return []
    if vf.source is None or vf.embedder is None:
        given, missing = ("source", "embedder") if vf.embedder is None else ("embedder", "source")
        return [
            checks.Error(
                f"VectorField has {given}= but no {missing}=.",
                hint="Give both: source= says what text to embed, embedder= how.",
                obj=vf,
                id="vectra_django.E014",
            )
        ]
    return [*_source_field_errors(vf), *_embedder_errors(vf)]


def _source_field_errors(vf: VectorField) -> list[checks.CheckMessage]:
    if callable(vf.source):
        return []
    names = (vf.source,) if isinstance(vf.source, str) else vf.source
    if not isinstance(names, tuple) or not names or not all(isinstance(n, str) for n in names):
        return [
            checks.Error(
                f"source= must be a vf name, a tuple of vf names or a callable "
                f"taking the instance, not {vf.source!r}.",
                obj=vf,
                id="vectra_django.E013",
            )
        ]
    return [
        checks.Error(
            f"source= names {name!r}, which is not a text vf of {vf.model._meta.label}.",
            hint="Name concrete, non-relational fields; for a computed text pass a "
            "callable taking the instance.",
            obj=vf,
            id="vectra_django.E013",
        )
        for name in names
        if not _is_source_field(vf.model, name)
    ]


def _embedder_errors(vf: VectorField) -> list[checks.CheckMessage]:
    try:
        embedder = vf.get_embedder()
        dimension = embedder.dimension
    except Exception as exc:  # an unusable embedder is reported, not raised
        return [
            checks.Error(
                f"The embedder of {vf.label} cannot be used: {exc}",
                hint="embedder= takes an Embedder, its class or factory, or a dotted path "
                "to one of them.",
                obj=vf,
                id="vectra_django.E015",
            )
        ]
    if dimension == vf.dimensions or not isinstance(vf.dimensions, int):
        return []
    return [
        checks.Error(
            f"{embedder!r} gives {dimension}-dimensional vectors but {vf.label} has "
            f"dimensions={vf.dimensions}.",
            hint="Make dimensions= the embedder's dimension (then makemigrations and "
            "re-embed), or configure the embedder to match.",
            obj=vf,
            id="vectra_django.E016",
        )
    ]


def option_errors(vf: VectorField) -> list[checks.CheckMessage]:

    errors: list[checks.CheckMessage] = []
    dims = vf.dimensions
    if isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= 16000:
        errors.append(
            checks.Error(
                f"VectorField needs dimensions= between 1 and 16000, got {dims!r}.",
                obj=vf,
                id="vectra_django.E010",
            )
        )
    if vf.metric not in METRICS:
        errors.append(
            checks.Error(
                f"Unknown metric {vf.metric!r}.",
                hint=f"Use one of {', '.join(METRICS)}.",
                obj=vf,
                id="vectra_django.E011",
            )
        )
    try:
        configured = clients.settings
    except Exception as exc:  # a broken VECTRA setting is reported, not raised
        configured = {}
        errors.append(checks.Error(str(exc), obj=vf, id="vectra_django.E001"))
    if vf.provider not in configured:
        errors.append(
            checks.Error(
                f"VectorField uses the VECTRA alias {vf.provider!r}, which is not configured.",
                hint=f"Add it to settings.VECTRA or use one of {sorted(configured)}.",
                obj=vf,
                id="vectra_django.E001",
            )
        )
    for name in vf.metadata_fields:
        try:
            field = vf.model._meta.get_field(name)
        except exceptions.FieldDoesNotExist:
            field = None
        if field is None or not getattr(field, "concrete", False):
            errors.append(
                checks.Error(
                    f"metadata_fields names {name!r}, which is not a vf of {vf.model._meta.label}.",
                    hint="List concrete fields of the model (foreign keys store their id).",
                    obj=vf,
                    id="vectra_django.E002",
                )
            )
    for label, check in (("index", validation.index_name), ("namespace", validation.namespace)):
        value = vf.index if label == "index" else vf.namespace
        if value is None:
            continue
        try:
            check(value)
        except ValidationError as exc:
            errors.append(checks.Error(str(exc), obj=vf, id="vectra_django.E012"))
    return errors


def storage_errors(vf: VectorField) -> list[checks.CheckMessage]:
    """``precision`` and ``quantization``, and the indexes of ``Meta.indexes`` on the field:
    their operator class and pgvector's dimension limits (2,000 for ``vector``, 4,000 for
    ``halfvec``, 64,000 for binary-quantized bits)."""
    errors: list[checks.CheckMessage] = []
    if vf.precision not in PRECISIONS:
        errors.append(
            checks.Error(
                f"Unknown precision {vf.precision!r}.",
                hint=f"Use one of {', '.join(map(repr, PRECISIONS))}.",
                obj=vf,
                id="vectra_django.E017",
            )
        )
    if vf.quantization not in QUANTIZATIONS:
        errors.append(
            checks.Error(
                f"Unknown quantization {vf.quantization!r}.",
                hint="Use quantization='binary', or leave it out.",
                obj=vf,
                id="vectra_django.E018",
            )
        )
    elif vf.quantization and vf.metric != "cosine":
        errors.append(
            checks.Error(
                f"quantization='binary' cannot serve metric {vf.metric!r}.",
                hint="Hamming distance between sign bits follows the angle between vectors: "
                "use metric='cosine', or no quantization.",
                obj=vf,
                id="vectra_django.E018",
            )
        )
    if errors or not isinstance(vf.dimensions, int):
        return errors
    return [*errors, *_index_errors(vf)]


def _index_errors(vf: VectorField) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for index in vf.model._meta.indexes:
        if not isinstance(index, HnswIndex | IvfflatIndex) or vf.name not in index.fields:
            continue  # expression indexes (binary quantization) carry their own bit length
        limit, kind = max_indexed_dimensions(vf.precision, None)
        if vf.dimensions > limit:
            errors.append(
                checks.Error(
                    f"Index {index.name!r} cannot be built: pgvector's HNSW and IVFFlat "
                    f"indexes take {kind} of at most {limit:,} dimensions, and {vf.label} "
                    f"has {vf.dimensions:,}.",
                    hint="Store it as halfvec (precision='half', up to 4,000 dimensions), or "
                    "index its sign bits (quantization='binary' with "
                    "binary_quantized_index(), up to 64,000).",
                    obj=vf,
                    id="vectra_django.E019",
                )
            )
        prefix = "halfvec_" if vf.half else "vector_"
        wrong = [name for name in index.opclasses if not name.startswith(prefix)]
        if wrong:
            errors.append(
                checks.Error(
                    f"Index {index.name!r} uses operator class {wrong[0]!r}, which does not "
                    f"serve the {prefix[:-1]} column of {vf.label}.",
                    hint=f"Use opclass({vf.metric!r}, precision={vf.precision!r}) from "
                    "vectra_django.indexes.",
                    obj=vf,
                    id="vectra_django.E020",
                )
            )
    return errors


def _is_source_field(model: type[Model], name: str) -> bool:
    try:
        field = model._meta.get_field(name)
    except exceptions.FieldDoesNotExist:
        return False
    return (
        getattr(field, "concrete", False)
        and not field.is_relation
        and not isinstance(field, PgVectorField)
    )
