"""The keyword side of a vector field: a stored ``tsvector`` column and its GIN index.

``VectorField(text_search=True)`` (the field's ``source`` fields) or
``text_search=("title", "body")`` adds, next to the vector, a generated column
``<field>_text_search`` = ``to_tsvector(text_config, left(title || ' ' || body, 100000))``
with a GIN index, both made by the migration that ``makemigrations`` writes (the first
``INDEXED_TEXT_LENGTH`` characters: a longer text would make some rows impossible to save).
PostgreSQL computes the column on every write, whichever way the row is written (``save``,
``bulk_create``, ``update()``, raw SQL), so the keyword index never drifts from the row;
searches go through the GIN index instead of computing ``to_tsvector`` per row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core import checks
from django.db.models import GeneratedField, Model, TextField
from django.db.models.functions import Left

from ..client.text import INDEXED_TEXT_LENGTH, MAX_RECORD_TEXT_LENGTH
from ..embedders import source_names

if TYPE_CHECKING:
    from ..client import Client
    from .fields import VectorField

TEXT_CONFIG_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
SUFFIX = "_text_search"


class _JoinedText(SearchVector):
    """``coalesce(a, '') || ' ' || coalesce(b, '')``: ``SearchVector``'s own joining of its
    fields (the operator, since ``concat()`` is only stable and a generated column takes
    immutable functions alone), without ``to_tsvector`` around it."""

    template = "(%(expressions)s)"
    output_field = TextField()


def prefix_search_vector(fields: Sequence[str], config: str) -> SearchVector:
    """``to_tsvector(config, left(a || ' ' || b, INDEXED_TEXT_LENGTH))``: PostgreSQL refuses
    a ``tsvector`` over 1 MB, and a generated column that raised would make the row
    impossible to write, so the keyword index reads each row's first characters only."""
    return SearchVector(Left(_JoinedText(*fields), INDEXED_TEXT_LENGTH), config=config)


class TextSearchColumn(GeneratedField):
    """The generated ``tsvector`` column a ``VectorField(text_search=...)`` adds to its
    model (PostgreSQL only). Declared in migrations like any field; never written."""

    def __init__(self, *, fields: Sequence[str], config: str, **kwargs: Any) -> None:
        self.text_fields = tuple(fields)
        self.text_config = config
        kwargs.pop("expression", None)
        kwargs.pop("output_field", None)
        kwargs.pop("db_persist", None)
        super().__init__(
            expression=prefix_search_vector(self.text_fields, config),
            output_field=SearchVectorField(),
            db_persist=True,
            **kwargs,
        )

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        for key in ("expression", "output_field", "db_persist"):
            kwargs.pop(key, None)
        kwargs.update(fields=list(self.text_fields), config=self.text_config)
        return name, "vectra_django.TextSearchColumn", args, kwargs


def text_fields(vf: VectorField) -> tuple[str, ...] | None:
    """The fields the keyword search reads, or ``None`` when the field has none."""
    option = vf.text_search
    if not option:
        return None
    if option is True:  # the source's fields; none from a callable or without a source
        return (source_names(vf.source) if vf.source is not None else None) or ()
    return (option,) if isinstance(option, str) else tuple(option)


def add_text_column(vf: VectorField, model: type[Model]) -> None:
    """Give ``model`` the field's ``tsvector`` column and GIN index (concrete models only:
    an abstract model's children each get their own when the field is copied to them).

    The column is a field of its own, so migrations record it; the vector field's
    ``deconstruct`` leaves ``text_search`` out, so that a model rebuilt from migrations
    does not add it twice.
    """
    fields = text_fields(vf)
    if not fields or model._meta.abstract or _errors(vf, fields):
        return
    name = vf.name + SUFFIX
    if any(f.name == name for f in model._meta.local_fields):
        return
    TextSearchColumn(fields=fields, config=vf.text_config).contribute_to_class(model, name)
    index = GinIndex(fields=[name], name=_index_name(model, name))
    meta = model._meta
    meta.indexes = [*meta.indexes, index]  # a new list: a Meta may be shared by inheritance
    meta.original_attrs["indexes"] = meta.indexes  # what migrations read


def _index_name(model: type[Model], column: str) -> str:
    """A stable name within Django's 30 characters: table and column, shortened."""
    import hashlib

    digest = hashlib.sha1(f"{model._meta.db_table}.{column}".encode()).hexdigest()[:8]
    return f"{model._meta.db_table[:12]}_{digest}_gin"[:30]


def text_column(vf: VectorField) -> str | None:
    """The name of the field's ``tsvector`` column, or ``None`` without keyword search."""
    return vf.name + SUFFIX if text_fields(vf) else None


def carries_text(vf: VectorField, client: Client) -> bool:
    """Whether the field's records written through ``client`` carry their text: the field
    has keyword search, and the store searches words. Pinecone would keep the text in its
    40 KB of metadata without searching it, so a long text would only stop the row's vector
    from syncing."""
    return text_column(vf) is not None and getattr(client.provider, "searches_text", True)


def search_column(vf: VectorField) -> str | None:
    """The field's ``tsvector`` column when its model has it (not when ``text_search`` is
    off, or its options kept the column from being added: the checks report why)."""
    column = text_column(vf)
    if column is None or not any(f.name == column for f in vf.model._meta.concrete_fields):
        return None
    return column


def record_attnames(vf: VectorField) -> list[str]:
    """The columns a synced record is made of, after its vector: the metadata fields, then
    the text fields (see :func:`record_parts`)."""
    get = vf.model._meta.get_field
    return [get(n).attname for n in (*vf.metadata_fields, *(text_fields(vf) or ()))]


def record_parts(vf: VectorField, values: Sequence[Any]) -> tuple[dict[str, Any], str | None]:
    """A record's metadata and text from the values of :func:`record_attnames`: the text
    is the text fields' values joined by newlines, ``None`` when all are empty.

    The text stops at the most a record carries (``MAX_RECORD_TEXT_LENGTH``): a row with
    more still syncs, its keyword search reading the beginning as in place."""
    split = len(vf.metadata_fields)
    parts = [str(v) for v in values[split:] if v not in (None, "")]
    text = "\n".join(parts)[:MAX_RECORD_TEXT_LENGTH] if parts else None
    return vf.metadata_from(values[:split]), text


def _errors(vf: VectorField, fields: tuple[str, ...]) -> list[str]:
    problems = []
    if not fields:
        problems.append(
            "text_search=True reads the field's source fields, and its source= names none "
            "(a callable, or no source): name the fields, text_search=('title', 'body')."
        )
    if not isinstance(vf.text_config, str) or not TEXT_CONFIG_RE.fullmatch(vf.text_config):
        problems.append(
            f"text_config must name a text search configuration such as 'english' or "
            f"'simple', got {vf.text_config!r}."
        )
    return problems


def check_text_search(vf: VectorField) -> list[checks.CheckMessage]:
    """System-check errors for the field's keyword options."""
    fields = text_fields(vf)
    if fields is None:
        return []
    errors = [checks.Error(p, obj=vf, id="vectra_django.E021") for p in _errors(vf, fields)]
    concrete = {f.name for f in vf.model._meta.concrete_fields}
    errors += [
        checks.Error(
            f"text_search names {name!r}, which is not a concrete field of {vf.model._meta.label}.",
            obj=vf,
            id="vectra_django.E022",
        )
        for name in fields
        if name not in concrete
    ]
    return errors
