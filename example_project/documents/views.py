from __future__ import annotations

import time
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from vectra_django.errors import ValidationError

from . import modes
from .embedding import document_embedder
from .forms import SearchForm
from .models import Document


def search(request: HttpRequest) -> HttpResponse:
    """Vector, keyword or hybrid search over the documents, with category/status filters."""
    categories = Document.objects.order_by("category").values_list("category", flat=True)
    form = SearchForm(request.GET or None, categories=categories.distinct())
    context: dict[str, Any] = {
        "form": form,
        "results": None,
        "total": Document.objects.count(),
        "embedder": document_embedder(),
        "hybrid_max": modes.HYBRID_MAX,
    }
    if form.is_valid():
        context.update(_results(form))
    context["mode"] = form.chosen_mode
    return render(request, "documents/search.html", context)


def _results(form: SearchForm) -> dict[str, Any]:
    """The context of a search; bad input becomes a form error, never a server error."""
    wanted = form.search()
    context: dict[str, Any] = {"query": wanted.text}
    if wanted.ignores_threshold:
        context["notice"] = (
            f"The minimum score applies to vector mode only; {wanted.mode.label.lower()} "
            "results are not filtered by it."
        )
    started = time.perf_counter()
    try:
        results = modes.run(wanted)
    except modes.NoSearchableWords:
        context["notice"] = "The query has no searchable words; try more specific ones."
        return context
    except ValidationError as exc:
        form.add_error("q", str(exc))
        return {}
    context.update(results=results, elapsed_ms=(time.perf_counter() - started) * 1000)
    return context


def detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One document and the five documents nearest to it."""
    # The keyword column is only read by searches: no need to load it here.
    document = get_object_or_404(Document.objects.defer("embedding_text_search"), pk=pk)
    similar = []
    if document.embedding is not None:
        similar = list(document.similar(limit=5))
    return render(request, "documents/detail.html", {"document": document, "similar": similar})
