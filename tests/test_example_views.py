"""The example project's search and document pages, and its model's embed-on-save."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.example_helpers import (
    DOCUMENTS,
    create_documents,
    example_site,  # noqa: F401  (fixture)
    requires_example_app,
)
from vectra_django.embedders import HashingEmbedder
from vectra_django.errors import ValidationError

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


def checked_mode(response):
    """The value of the mode radio button the page shows as chosen."""
    return re.findall(r'<input type="radio" name="mode" value="(\w+)"[^>]* checked>', response.text)


def test_search_page_without_query_shows_the_form_and_count(client, docs):
    response = search(client)
    assert response.context["results"] is None
    assert f"{len(DOCUMENTS)} documents indexed" in response.text
    assert 'name="q"' in response.text
    assert '<option value="compression">' in response.text  # categories come from the data
    assert checked_mode(response) == ["hybrid"]
    assert '<label for="id_mode_2"><input type="radio" name="mode" value="keyword"' in response.text


def test_search_ranks_the_closest_documents_first_with_scores(client, docs):
    response = search(client, q="read a csv file", mode="vector")
    results = response.context["results"]
    assert titles(response)[:3] == ["csv.reader", "csv.DictReader", "csv.writer"]
    scores = [doc.vector_score for doc in results]
    assert scores == sorted(scores, reverse=True)
    assert f"{scores[0]:.3f}" in response.text
    assert docs["csv.reader"].snippet in response.text


def test_search_filters_by_category_and_status(client, docs):
    by_category = search(client, q="read a csv file", mode="vector", category="compression")
    assert titles(by_category)
    assert {d.category for d in by_category.context["results"]} == {"compression"}
    drafts = search(client, q="read a csv file", mode="vector", status="draft")
    assert sorted(titles(drafts)) == ["csv.DictReader", "zipfile.ZipFile"]
    both = search(
        client, q="read a csv file", mode="vector", category="compression", status="draft"
    )
    assert titles(both) == ["zipfile.ZipFile"]


def test_search_applies_the_score_threshold(client, docs):
    everything = search(client, q="read a csv file", mode="vector")
    threshold = 0.2
    above = search(client, q="read a csv file", mode="vector", threshold=threshold)
    expected = [d.title for d in everything.context["results"] if d.vector_score >= threshold]
    assert titles(above) == expected
    assert 0 < len(expected) < len(everything.context["results"])
    none = search(client, q="read a csv file", mode="vector", threshold=0.99)
    assert titles(none) == []
    assert "No document matches" in none.text


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_search_limit(client, docs, mode):
    assert len(titles(search(client, q="csv", mode=mode, limit=2))) == 2


def test_search_rejects_a_threshold_out_of_range(client, docs):
    response = search(client, q="read a csv file", threshold=5)
    assert response.context["results"] is None
    assert "Minimum score" in response.text
    assert response.context["form"].errors["threshold"]


def test_search_with_only_stop_words_explains_itself(client, docs):
    response = search(client, q="the of and", mode="vector")
    assert response.context["results"] is None
    assert "no searchable words" in response.text


# -- search modes: vector, keyword, hybrid ---------------------------------------------------


def test_the_three_modes_rank_the_same_query_differently(client, docs):
    # "gzip file": gzip.compress shares the most words with it, but only gzip.open has both.
    vector = search(client, q="gzip file", mode="vector")
    keyword = search(client, q="gzip file", mode="keyword")
    hybrid = search(client, q="gzip file", mode="hybrid")
    assert titles(vector)[:2] == ["gzip.compress", "gzip.open"]
    assert titles(keyword) == ["gzip.open"]  # every word must occur
    assert titles(hybrid)[:2] == ["gzip.open", "gzip.compress"]  # found by both legs first
    assert [checked_mode(r) for r in (vector, keyword, hybrid)] == [
        ["vector"],
        ["keyword"],
        ["hybrid"],
    ]


def test_vector_mode_shows_cosine_scores(client, docs):
    response = search(client, q="gzip file", mode="vector")
    first = response.context["results"][0]
    assert first.vector_score == pytest.approx(0.382, abs=1e-3)
    assert f'vector <strong class="score-value">{first.vector_score:.3f}</strong>' in response.text
    assert "best first by vector score" in response.text


def test_keyword_mode_matches_an_exact_name_and_shows_keyword_scores(client, docs):
    response = search(client, q="csv.reader", mode="keyword")
    assert titles(response) == ["csv.reader"]  # not csv.DictReader, vector search's second
    assert titles(search(client, q="csv.reader", mode="vector"))[:2] == [
        "csv.reader",
        "csv.DictReader",
    ]
    (doc,) = response.context["results"]
    assert 0 < doc.text_score < 1
    assert f'keyword <strong class="score-value">{doc.text_score:.4f}</strong>' in response.text
    assert "best first by keyword score" in response.text


def test_keyword_mode_without_a_match_says_every_word_must_occur(client, docs):
    response = search(client, q="gzip json", mode="keyword")
    assert titles(response) == []
    assert "keyword search needs every word in one document" in response.text


def test_hybrid_is_the_default_and_shows_the_fused_score_and_each_leg(client, docs):
    response = search(client, q="gzip file")  # a link without a mode
    assert response.context["mode"] == "hybrid"
    assert checked_mode(response) == ["hybrid"]
    both, vector_only = response.context["results"][:2]
    # Reciprocal Rank Fusion: gzip.open is 2nd by vector and 1st by keyword.
    assert both.hybrid_score == pytest.approx(1 / 62 + 1 / 61)
    assert (both.vector_score, both.text_score) != (None, None)
    assert vector_only.hybrid_score == pytest.approx(1 / 61)
    assert vector_only.text_score is None
    html = response.text
    assert f'hybrid <strong class="score-value">{both.hybrid_score:.4f}</strong>' in html
    assert f'vector <span class="leg-value">{both.vector_score:.3f}</span>' in html
    assert f'keyword <span class="leg-value">{both.text_score:.4f}</span>' in html
    assert 'keyword <span class="leg-value">—</span>' in html  # gzip.compress: no keyword hit
    assert "best first by hybrid score" in html


def test_filters_apply_in_keyword_and_hybrid_modes(client, docs):
    drafts = search(client, q="csv", mode="keyword", status="draft")
    assert titles(drafts) == ["csv.DictReader"]
    compression = search(client, q="csv", mode="hybrid", category="compression")
    assert sorted(titles(compression)) == ["gzip.compress", "gzip.open", "zipfile.ZipFile"]
    assert all(d.text_score is None for d in compression.context["results"])


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_threshold_is_ignored_outside_vector_mode_and_the_page_says_so(client, docs, mode):
    response = search(client, q="csv.reader", mode=mode, threshold=0.99)
    assert titles(response)[0] == "csv.reader"
    assert f"The minimum score applies to vector mode only; {mode} results" in response.text
    assert titles(search(client, q="csv.reader", mode="vector", threshold=0.99)) == []


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
@pytest.mark.parametrize("q", ["", "   "])
def test_empty_query_is_a_form_error(client, docs, mode, q):
    response = search(client, q=q, mode=mode)
    assert response.context["results"] is None
    assert response.context["form"].errors["q"] == ["Type a description or a name to search for."]
    assert 'role="alert"' in response.text
    assert "Search: Type a description or a name to search for." in response.text
    assert checked_mode(response) == [mode]  # the choice is kept for the next try


def test_query_with_a_nul_character_is_a_form_error(client, docs):
    response = search(client, q="csv\x00reader", mode="keyword")
    assert response.context["results"] is None
    assert "Null characters are not allowed." in response.context["form"].errors["q"]


def test_unknown_mode_is_a_form_error(client, docs):
    response = search(client, q="csv", mode="fuzzy")
    assert response.context["results"] is None
    assert "fuzzy is not one of the available choices" in response.context["form"].errors["mode"][0]


def test_text_the_search_refuses_becomes_a_form_error(client, docs, monkeypatch):
    from example_project.documents import modes

    def refuse(search):
        raise ValidationError("text is too long for this store.")

    monkeypatch.setattr(modes, "run", refuse)
    response = search(client, q="csv", mode="keyword")
    assert response.context["results"] is None
    assert response.context["form"].errors["q"] == ["text is too long for this store."]
    assert "Search: text is too long for this store." in response.text


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
