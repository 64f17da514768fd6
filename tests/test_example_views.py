"""The example project's search and document pages, and its model's embed-on-save."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.example_helpers import (
    DOCUMENTS,
    create_documents,
    example_site,  # noqa: F401  (fixture)
    requires_example_app,
)
from vectra_django.embedders import HashingEmbedder

pytestmark = [requires_example_app, pytest.mark.django_db, pytest.mark.usefixtures("example_site")]


@pytest.fixture
def docs():
    return create_documents()


def search(client, **params):
    response = client.get(reverse("documents:search"), params)
    assert response.status_code == 200
    return response


def titles(response):
    return [doc.title for doc in response.context["results"]]


def test_search_page_without_query_shows_the_form_and_count(client, docs):
    response = search(client)
    assert response.context["results"] is None
    assert f"{len(DOCUMENTS)} documents indexed" in response.text
    assert 'name="q"' in response.text
    assert '<option value="compression">' in response.text  # categories come from the data


def test_search_ranks_the_closest_documents_first_with_scores(client, docs):
    response = search(client, q="read a csv file")
    results = response.context["results"]
    assert titles(response)[:3] == ["csv.reader", "csv.DictReader", "csv.writer"]
    scores = [doc.vector_score for doc in results]
    assert scores == sorted(scores, reverse=True)
    assert f"{scores[0]:.3f}" in response.text
    assert docs["csv.reader"].snippet in response.text


def test_search_filters_by_category_and_status(client, docs):
    by_category = search(client, q="read a csv file", category="compression")
    assert titles(by_category)
    assert {d.category for d in by_category.context["results"]} == {"compression"}
    drafts = search(client, q="read a csv file", status="draft")
    assert sorted(titles(drafts)) == ["csv.DictReader", "zipfile.ZipFile"]
    both = search(client, q="read a csv file", category="compression", status="draft")
    assert titles(both) == ["zipfile.ZipFile"]


def test_search_applies_the_score_threshold(client, docs):
    everything = search(client, q="read a csv file")
    threshold = 0.2
    above = search(client, q="read a csv file", threshold=threshold)
    expected = [d.title for d in everything.context["results"] if d.vector_score >= threshold]
    assert titles(above) == expected
    assert 0 < len(expected) < len(everything.context["results"])
    none = search(client, q="read a csv file", threshold=0.99)
    assert titles(none) == []
    assert "No document matches" in none.text


def test_search_limit(client, docs):
    assert len(titles(search(client, q="read a csv file", limit=2))) == 2


def test_search_rejects_a_threshold_out_of_range(client, docs):
    response = search(client, q="read a csv file", threshold=5)
    assert response.context["results"] is None
    assert "Minimum score" in response.text
    assert response.context["form"].errors["threshold"]


def test_search_with_only_stop_words_explains_itself(client, docs):
    response = search(client, q="the of and")
    assert response.context["results"] is None
    assert "no searchable words" in response.text


def test_document_page_lists_similar_documents(client, docs):
    doc = docs["csv.reader"]
    response = client.get(reverse("documents:detail", args=[doc.pk]))
    assert response.status_code == 200
    similar = response.context["similar"]
    assert 0 < len(similar) <= 5
    assert doc.pk not in [d.pk for d in similar]
    assert similar[0].title.startswith("csv.")
    assert "Similar documents" in response.text
    assert reverse("documents:detail", args=[similar[0].pk]) in response.text


def test_document_page_without_embedding(client, docs):
    from example_project.documents.models import Document

    doc = docs["json.loads"]
    Document.objects.filter(pk=doc.pk).update(embedding=None)
    response = client.get(reverse("documents:detail", args=[doc.pk]))
    assert response.context["similar"] == []
    assert "has no embedding" in response.text


def test_document_page_404(client, docs):
    assert client.get(reverse("documents:detail", args=[10**9])).status_code == 404


# -- the model: embedded on save, only when the text changed ----------------------------------


class Counting(HashingEmbedder):
    calls: list[str] = []

    def embed(self, texts):
        Counting.calls.extend(texts)
        return super().embed(texts)


def test_document_is_embedded_on_save_and_only_when_its_text_changes(settings):
    from example_project.documents.models import Document, embedding_text

    settings.DOCUMENTS_EMBEDDER = "tests.test_example_views.Counting"
    Counting.calls.clear()
    doc = Document.objects.create(title="gzip.open", content="Open a gzip-compressed file.")
    assert doc.embedding is not None
    assert len(Counting.calls) == 1

    loaded = Document.objects.get(pk=doc.pk)
    loaded.status = "draft"
    loaded.save()
    assert len(Counting.calls) == 1  # same text: no embedding

    loaded.content = "Open a gzip-compressed file in binary or text mode."
    loaded.save(update_fields=["content"])
    assert len(Counting.calls) == 2
    loaded.refresh_from_db()
    expected = HashingEmbedder().embed_one(embedding_text(loaded))
    assert loaded.embedding == pytest.approx(expected.tolist(), abs=1e-6)


# -- configuration --------------------------------------------------------------------------


def test_embedder_with_the_wrong_dimension_is_refused(settings):
    from django.core.exceptions import ImproperlyConfigured

    from example_project.documents.embedding import document_embedder

    settings.DOCUMENTS_EMBEDDER = "tests.test_embedders.make_embedder"  # 16 dimensions
    with pytest.raises(ImproperlyConfigured, match="16-dimensional vectors"):
        document_embedder()


def test_operations_are_logged_by_the_example_handler(caplog):
    from example_project.documents.events import log_operation
    from vectra_django.instrumentation import Event

    with caplog.at_level("DEBUG", logger="example_project.vectra"):
        log_operation(Event("search", "pgvector", "documents", 2.5, metadata={"top_k": 3}))
        log_operation(Event("upsert", "qdrant", "documents", 9.0, error=TimeoutError("slow")))
    ok, failed = caplog.records
    assert (ok.levelname, failed.levelname) == ("DEBUG", "WARNING")
    assert ok.getMessage() == "search on pgvector/documents took 2.5 ms {'top_k': 3}"
    assert "upsert on qdrant/documents failed after 9.0 ms: TimeoutError('slow')" in (
        failed.getMessage()
    )


def test_settings_come_from_the_environment():
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import json; from example_project import settings as s; "
        "print(json.dumps([s.DEBUG, s.SECRET_KEY, s.DATABASES['default']['NAME'], s.VECTRA]))"
    )
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://user:secret@db.invalid:5432/docs",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "from-the-environment",
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.returncode == 0, out.stderr
    debug, secret, name, vectra = json.loads(out.stdout)
    assert (debug, secret, name) == (False, "from-the-environment", "docs")
    assert vectra == {"default": {"PROVIDER": "pgvector", "DATABASE": "default"}}
