import time

from django.shortcuts import get_object_or_404, render

from .embedding import document_embedder
from .forms import SearchForm
from .models import Document


def search(request):
    """Semantic search over the documents, with category/status filters and a threshold."""
    categories = Document.objects.order_by("category").values_list("category", flat=True)
    form = SearchForm(request.GET or None, categories=categories.distinct())
    context = {
        "form": form,
        "results": None,
        "total": Document.objects.count(),
        "embedder": document_embedder(),
    }
    if form.is_valid() and form.cleaned_data["q"].strip():
        query = form.cleaned_data["q"]
        vector = document_embedder().embed_one(query)
        if not vector.any():
            context["notice"] = "The query has no searchable words; try more specific ones."
            return render(request, "documents/search.html", context)
        started = time.perf_counter()
        results = list(
            # The filter is portable: it works the same if VECTRA points to Qdrant or Pinecone.
            Document.objects.defer("embedding").vector_search(
                vector,
                limit=form.cleaned_data["limit"] or 10,
                filter=form.vector_filter(),
                score_threshold=form.cleaned_data["threshold"],
            )
        )
        context.update(
            results=results,
            query=query,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )
    return render(request, "documents/search.html", context)


def detail(request, pk: int):
    """One document and the five documents nearest to it."""
    document = get_object_or_404(Document, pk=pk)
    similar = []
    if document.embedding is not None:
        similar = list(document.similar(limit=5))
    return render(request, "documents/detail.html", {"document": document, "similar": similar})
