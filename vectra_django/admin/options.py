"""``VectorSearchAdmin``: search by meaning in the changelist, similar rows on the change page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import flatten_fieldsets, quote
from django.contrib.admin.views.main import ChangeList
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from ..db.fields import VectorField, vector_fields
from ..db.text import text_fields
from ..embedders import source_names
from ..errors import ConfigurationError, VectraError
from .actions import reembed_selected, resync_selected
from .changelist import VectorSearchChangeList, number, ranked, score_html, searchable

MODES = ("hybrid", "vector", "keyword")
# The scores each mode gives its rows.
MODE_SCORES = {
    "hybrid": ("hybrid_score", "vector_score", "text_score"),
    "vector": ("vector_score",),
    "keyword": ("text_score",),
}
SIMILAR = "vector_similar_items"
_ADMIN_ROWS = "_vector_admin_rows"  # the admin's queryset, kept on the object it loaded
_NOTES = "_vector_search_notes"


class VectorSearchAdmin(admin.ModelAdmin):
    """A ``ModelAdmin`` for a model with a ``VectorField``: the search box ranks rows by
    meaning, the change page lists similar rows, and the actions "Re-embed selected" and
    "Re-sync selected" are offered.

    Use it in place of ``admin.ModelAdmin`` (or before it in the bases), and add
    ``"vector_search_score"`` to ``list_display`` to see each row's score.
    """

    #: "hybrid", "vector" or "keyword"; ``None``: hybrid when the field has ``text_search``.
    vector_search_mode: str | None = None
    #: The vector field to search, compare, re-embed and re-sync; ``None``: the first one.
    vector_search_field: str | None = None
    vector_search_limit: int = 50
    vector_similar_limit: int = 5
    #: Rows per embedder call and per write in the actions.
    vector_batch_size: int = 256
    vector_actions: Sequence[Callable[..., Any] | str] = (reembed_selected, resync_selected)

    def get_vector_field(self) -> VectorField:
        """The vector field this admin works with (``vector_search_field``)."""
        fields = vector_fields(self.model)
        name = self.vector_search_field
        for vf in fields:
            if name is None or name in (vf.name, vf.attname):
                return vf
        if not fields:
            raise ConfigurationError(f"{self.opts.label} has no VectorField.")
        raise ConfigurationError(
            f"{self.opts.label} has no VectorField {name!r} (vector_search_field); its vector "
            f"fields are {[vf.name for vf in fields]}."
        )

    def get_vector_search_mode(self, request: HttpRequest | None = None) -> str:
        """``vector_search_mode``, or hybrid when the field has a keyword column."""
        mode = self.vector_search_mode
        if mode is None:
            return "hybrid" if self.get_vector_field().text_search else "vector"
        if mode not in MODES:
            raise ConfigurationError(f"vector_search_mode must be one of {MODES}, not {mode!r}.")
        return mode

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        try:
            self.get_vector_field()
            self.get_vector_search_mode()
        except ConfigurationError as exc:
            errors.append(checks.Error(str(exc), obj=self.__class__, id="vectra_django.E040"))
        return errors

    # -- the changelist ----------------------------------------------------------------------

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return VectorSearchChangeList

    def get_search_fields(self, request: HttpRequest) -> Sequence[str]:
        """``search_fields``, or else the vector field's text fields: Django shows the search
        box only when there are search fields, and they serve the fallback search."""
        declared = super().get_search_fields(request)
        if declared:
            return declared
        try:
            vf = self.get_vector_field()
        except ConfigurationError:
            return declared
        names = text_fields(vf) or (source_names(vf.source) if vf.source is not None else None)
        texts = (models.CharField, models.TextField)
        fields = self.opts.concrete_fields
        return [f.name for f in fields if f.name in (names or ()) and isinstance(f, texts)]

    def get_search_results(
        self, request: HttpRequest, queryset: models.QuerySet, search_term: str
    ) -> tuple[models.QuerySet, bool]:
        """The rows the search ranks, best first (never duplicated); Django's own search when
        the field cannot be searched that way, with a message saying why."""
        text = search_term.strip()
        autocomplete = getattr(request.resolver_match, "url_name", None) == "autocomplete"
        if not text or autocomplete:  # type-ahead prefixes suit Django's substring search
            return super().get_search_results(request, queryset, search_term)
        try:
            return self.vector_search_results(request, queryset, text), False
        except (VectraError, ImproperlyConfigured) as exc:
            fields = ", ".join(self.get_search_fields(request)) or "no search_fields"
            self._note(request, f"{exc} Showing Django's search ({fields}) instead.")
            return super().get_search_results(request, queryset, search_term)

    def vector_search_results(
        self, request: HttpRequest, queryset: models.QuerySet, text: str
    ) -> models.QuerySet:
        """``queryset`` narrowed to the rows the search finds for ``text``, ordered by rank,
        each annotated with its scores (see :func:`.changelist.ranked`)."""
        vf = self.get_vector_field()
        mode = self.get_vector_search_mode(request)
        rows = searchable(queryset)
        limit = self.vector_search_limit
        if mode == "keyword":
            found = rows.text_search(text, limit=limit, field=vf.name)
        elif mode == "hybrid":
            vf.get_embedder()  # no embedder: a ConfigurationError that says so
            found = rows.hybrid_search(text, limit=limit, field=vf.name)
        else:
            vector = vf.get_embedder().embed([text])[0]
            found = rows.vector_search(vector, limit=limit, field=vf.name)
        return ranked(queryset, list(found), MODE_SCORES[mode])

    @admin.display(description="Score")
    def vector_search_score(self, obj: models.Model) -> str:
        """The row's score in the current search (hybrid: with each leg's), "—" outside one."""
        return score_html(obj)

    def _note(self, request: HttpRequest, text: str, level: int = messages.WARNING) -> None:
        """A message once per request (facet counts run the changelist's query again)."""
        notes = request.__dict__.setdefault(_NOTES, set())
        if text not in notes:
            notes.add(text)
            self.message_user(request, text, level, fail_silently=True)

    # -- the change page ---------------------------------------------------------------------

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> models.Model | None:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:  # similar items come from the rows this admin shows this user
            obj.__dict__[_ADMIN_ROWS] = self.get_queryset(request)
        return obj

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Sequence[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and SIMILAR not in fields:
            fields.append(SIMILAR)
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None or SIMILAR in flatten_fieldsets(fieldsets):
            return fieldsets
        return [*fieldsets, ("Similar items", {"fields": [SIMILAR]})]

    @admin.display(description="Similar items")
    def vector_similar_items(self, obj: models.Model) -> str:
        """The nearest rows, with links to their change pages and their scores."""
        try:
            vf = self.get_vector_field()
            vector = getattr(obj, vf.attname)
            if vector is None:
                return "No vector yet, so nothing to compare with."
            rows = searchable(obj.__dict__.get(_ADMIN_ROWS) or self.model._default_manager.all())
            limit = self.vector_similar_limit
            similar = list(rows.exclude(pk=obj.pk).vector_search(vector, limit, field=vf.name))
        except VectraError as exc:
            return f"Similar items are unavailable: {exc}"
        if not similar:
            return "No similar items."
        items = format_html_join(
            "",
            '<li><a href="{}">{}</a> <span class="vector-similar-score">{}</span></li>',
            ((self._change_url(item), str(item), number(item.vector_score)) for item in similar),
        )
        return format_html('<ol class="vector-similar">{}</ol>', items)

    def _change_url(self, obj: models.Model) -> str:
        opts = self.opts
        name = f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change"
        return reverse(name, args=[quote(obj.pk)])

    # -- actions -----------------------------------------------------------------------------

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        """Django's actions plus ``vector_actions`` (each subject to its permissions).

        ``action_location`` is Django 6.1's list or change form; earlier versions have none.
        """
        where = () if action_location is None else (action_location,)
        actions = super().get_actions(request, *where)
        if self.actions is None or IS_POPUP_VAR in request.GET:
            return actions
        for action in filter(None, (self.get_action(a, *where) for a in self.vector_actions)):
            # Django 6.1 describes an action with an Action object, earlier ones with a tuple.
            func, name = action[:2] if isinstance(action, tuple) else (action.func, action.name)
            allowed = getattr(func, "allowed_permissions", ())
            if name not in actions and all(
                getattr(self, f"has_{p}_permission")(request) for p in allowed
            ):
                actions[name] = action
        return actions
