"""A changelist that keeps a search's ranking, and the scores each of its rows carries.

A search is sliced (its ``limit``), while the changelist orders, counts and pages the queryset
it gets; so the ranked rows come back as a plain filter of their primary keys, annotated with
their rank and scores, ordered by rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.admin.views.main import ChangeList
from django.db import models
from django.db.models import Case, FloatField, IntegerField, Value, When
from django.http import HttpRequest
from django.utils.html import format_html

from ..db.queryset import VectorQuerySet

RANK = "vector_search_rank"
EMPTY = "—"
LEGS = (("vector", "vector_score"), ("keyword", "text_score"))


def annotation(score: str) -> str:
    """Where a ranked row carries ``score`` (prefixed: a model may use the plain name)."""
    return f"vector_search_{score}"


class VectorSearchChangeList(ChangeList):
    """While a search ranks the rows, its order wins and the columns are not sortable (a
    click could only sort the best matches away); otherwise Django's changelist as usual."""

    ranked = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ranked = RANK in self.queryset.query.annotations
        if self.ranked:
            self.sortable_by = ()

    def get_ordering(self, request: HttpRequest, queryset: models.QuerySet) -> list[Any]:
        # Django orders before it searches; should that change, the ranking still wins.
        if RANK in queryset.query.annotations:
            return [RANK]
        return super().get_ordering(request, queryset)

    def get_ordering_field_columns(self) -> dict[int, str]:
        return {} if self.ranked else super().get_ordering_field_columns()


def ranked(
    queryset: models.QuerySet, found: Sequence[models.Model], scores: Sequence[str]
) -> models.QuerySet:
    """``queryset`` narrowed to ``found`` in their order, each row annotated with its rank
    and its ``scores`` (see :func:`annotation`)."""
    pks = [obj.pk for obj in found]
    annotations = {RANK: _case(pks, list(range(len(pks))), IntegerField())}
    for score in scores:
        values = [getattr(obj, score, None) for obj in found]
        annotations[annotation(score)] = _case(pks, values, FloatField())
    return queryset.filter(pk__in=pks).annotate(**annotations).order_by(RANK)


def _case(pks: Sequence[Any], values: Sequence[Any], output_field: models.Field) -> Case:
    pairs = zip(pks, values, strict=True)
    whens = [When(pk=pk, then=Value(v)) for pk, v in pairs if v is not None]
    return Case(*whens, default=Value(None), output_field=output_field)


def searchable(queryset: models.QuerySet) -> VectorQuerySet:
    """``queryset`` as a ``VectorQuerySet`` (the admin's manager may be another one)."""
    if isinstance(queryset, VectorQuerySet):
        return queryset
    return VectorQuerySet(model=queryset.model, query=queryset.query.chain(), using=queryset.db)


def score_html(obj: models.Model) -> str:
    """The score a ranked row carries (a hybrid one with each leg's); "—" on other rows."""
    if getattr(obj, RANK, None) is None:
        return EMPTY
    hybrid = getattr(obj, annotation("hybrid_score"), None)
    if hybrid is not None:
        legs = " · ".join(
            f"{label} {number(getattr(obj, annotation(score), None))}" for label, score in LEGS
        )
        return format_html(
            '<span class="vector-search-score">{}</span> '
            '<small class="vector-search-legs">{}</small>',
            number(hybrid),
            legs,
        )
    for _, score in LEGS:
        value = getattr(obj, annotation(score), None)
        if value is not None:
            return format_html('<span class="vector-search-score">{}</span>', number(value))
    return EMPTY


def number(value: float | None) -> str:
    return EMPTY if value is None else f"{value:.4f}"
