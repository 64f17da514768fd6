"""``VectorSearchAdmin`` through the Django test client, logged in as a superuser.

The example project's ``Document`` admin (in place, hybrid by default) serves the search and
change-page tests; test models on a site of their own serve the actions and the fallbacks.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.contrib import admin
from django.db import transaction
from django.urls import path, reverse

from tests import remote_stores
from tests.example_helpers import create_documents, requires_example_app
from tests.testapp.embedders import counting
from tests.testapp.models import Document as PlainDocument
from tests.testapp.models import Entry, RemoteArticle, RemoteDocument, article_text
from vectra_django import clients
from vectra_django.admin import VectorSearchAdmin

pytestmark = [requires_example_app, pytest.mark.django_db]


class EntryAdmin(VectorSearchAdmin):
    list_display = ["title", "category", "vector_search_score"]
    search_fields = ["title"]


class RemoteArticleAdmin(VectorSearchAdmin):
    list_display = ["title", "vector_search_score"]


class PlainDocumentAdmin(VectorSearchAdmin):
    list_display = ["title", "vector_search_score"]
    search_fields = ["title"]


site = admin.AdminSite(name="vectors")
site.register(Entry, EntryAdmin)
site.register(RemoteArticle, RemoteArticleAdmin)
site.register(PlainDocument, PlainDocumentAdmin)
site.register(RemoteDocument, PlainDocumentAdmin)

urlpatterns = [path("admin/", admin.site.urls), path("vectors/", site.urls)]


@pytest.fixture(autouse=True)
def admin_urls(settings):
    settings.ROOT_URLCONF = __name__
    settings.DOCUMENTS_EMBEDDER = None  # the example's default HashingEmbedder
    clients.reset()
    yield
    clients.reset()


@pytest.fixture
def docs():
    return create_documents()


@pytest.fixture
def document_admin():
    from example_project.documents.models import Document

    return admin.site._registry[Document]


def changelist(client, **params):
    response = client.get(reverse("admin:documents_document_changelist"), params)
    assert response.status_code == 200
    return response


def shown_titles(response):
    return [obj.title for obj in response.context["cl"].result_list]


def shown_scores(response):
    """The main score of each row, as the page prints it, in page order."""
    return [float(s) for s in re.findall(r'class="vector-search-score">(-?[\d.]+)<', response.text)]


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def search_results(method, text, **kwargs):
    from example_project.documents.models import Document

    return list(getattr(Document.objects, method)(text, limit=50, **kwargs))


# -- the search box -----------------------------------------------------------------------------


def test_the_search_box_ranks_rows_by_hybrid_search_with_their_scores(admin_client, docs):
    text = "compress data into a smaller file"
    expected = search_results("hybrid_search", text)
    response = changelist(admin_client, q=text)

    assert shown_titles(response) == [doc.title for doc in expected]
    assert shown_titles(response) != sorted(shown_titles(response))  # not the model's ordering
    scores = shown_scores(response)
    assert scores == [round(doc.hybrid_score, 4) for doc in expected]
    assert scores == sorted(scores, reverse=True)
    assert 'class="vector-search-legs">vector ' in response.text


def test_vector_mode_ranks_by_the_embedded_text(admin_client, docs, document_admin, monkeypatch):
    from example_project.documents.embedding import document_embedder
    from example_project.documents.models import Document

    monkeypatch.setattr(document_admin, "vector_search_mode", "vector")
    text = "read a csv file"
    vector = document_embedder().embed([text])[0]
    expected = list(Document.objects.vector_search(vector, limit=50))
    response = changelist(admin_client, q=text)

    assert shown_titles(response) == [doc.title for doc in expected]
    assert shown_titles(response)[:3] == ["csv.reader", "csv.DictReader", "csv.writer"]
    assert shown_scores(response) == [round(doc.vector_score, 4) for doc in expected]
    assert "vector-search-legs" not in response.text


def test_keyword_mode_shows_only_rows_with_the_words(
    admin_client, docs, document_admin, monkeypatch
):
    monkeypatch.setattr(document_admin, "vector_search_mode", "keyword")
    response = changelist(admin_client, q="compressed")

    expected = search_results("text_search", "compressed")
    assert 0 < len(expected) < len(docs)
    assert shown_titles(response) == [doc.title for doc in expected]
    assert shown_scores(response) == [round(doc.text_score, 4) for doc in expected]


def test_a_search_that_finds_nothing_shows_no_rows(admin_client, docs, document_admin, monkeypatch):
    monkeypatch.setattr(document_admin, "vector_search_mode", "keyword")
    response = changelist(admin_client, q="zebra")
    assert shown_titles(response) == []
    assert response.context["cl"].result_count == 0
    assert messages_of(response) == []


def test_the_limit_caps_the_rows_and_the_count(admin_client, docs, document_admin, monkeypatch):
    monkeypatch.setattr(document_admin, "vector_search_limit", 3)
    response = changelist(admin_client, q="read a csv file")
    assert len(shown_titles(response)) == 3
    assert response.context["cl"].result_count == 3


def test_list_filters_narrow_the_search(admin_client, docs):
    from example_project.documents.models import Document

    text = "open a file"
    expected = list(Document.objects.filter(category="compression").hybrid_search(text, limit=50))
    response = changelist(admin_client, q=text, category__exact="compression")

    assert shown_titles(response) == [doc.title for doc in expected]
    assert {obj.category for obj in response.context["cl"].result_list} == {"compression"}


def test_outside_a_search_the_score_is_a_dash_and_columns_sort(admin_client, docs):
    response = changelist(admin_client)
    titles = shown_titles(response)
    assert titles == sorted(titles)  # the model's ordering
    assert shown_scores(response) == []
    assert response.text.count('<td class="field-vector_search_score">—</td>') == len(docs)

    descending = changelist(admin_client, o="-1")  # a click on the title header, twice
    assert shown_titles(descending) == sorted(titles, reverse=True)


def test_while_searching_the_ranking_wins_over_a_column_sort(admin_client, docs):
    text = "compress data into a smaller file"
    expected = [doc.title for doc in search_results("hybrid_search", text)]
    response = changelist(admin_client, q=text, o="1")

    assert shown_titles(response) == expected
    assert response.context["cl"].sortable_by == ()
    assert 'class="sortable' not in response.text


# -- similar items on the change page ----------------------------------------------------------


def change_page(client, obj):
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    response = client.get(url)
    assert response.status_code == 200
    return response


def similar_links(response):
    """(href, title, score) of each similar item shown, in page order."""
    found = re.findall(
        r'<li><a href="([^"]+)">([^<]+)</a> <span class="vector-similar-score">(-?[\d.]+)</span>',
        response.text,
    )
    return [(href, title, float(score)) for href, title, score in found]


def test_the_change_page_lists_similar_items_with_links_and_scores(admin_client, docs):
    doc = docs["csv.reader"]
    expected = list(doc.similar(limit=5))
    shown = similar_links(change_page(admin_client, doc))

    assert [title for _, title, _ in shown] == [item.title for item in expected]
    assert "csv.reader" not in [title for _, title, _ in shown]
    assert shown[0][0] == reverse("admin:documents_document_change", args=[expected[0].pk])
    assert [score for _, _, score in shown] == [round(i.vector_score, 4) for i in expected]


def test_similar_items_come_from_the_rows_the_admin_shows(
    admin_client, docs, document_admin, monkeypatch
):
    original = type(document_admin).get_queryset

    def published(self, request):
        return original(self, request).filter(status="published")

    monkeypatch.setattr(type(document_admin), "get_queryset", published)
    shown = similar_links(change_page(admin_client, docs["csv.reader"]))

    assert shown
    drafts = {title for title, doc in docs.items() if doc.status == "draft"}
    assert drafts.isdisjoint(title for _, title, _ in shown)


def test_a_row_without_a_vector_shows_no_similar_items(admin_client, docs):
    from example_project.documents.models import Document

    doc = docs["gzip.open"]
    Document.objects.filter(pk=doc.pk).update(embedding=None)
    response = change_page(admin_client, doc)
    assert "No vector yet, so nothing to compare with." in response.text
    assert similar_links(response) == []


def test_the_change_form_still_saves(admin_client, docs):
    from example_project.documents.models import Document

    doc = docs["gzip.open"]
    url = reverse("admin:documents_document_change", args=[doc.pk])
    data = {
        "title": "gzip.open",
        "content": "Open a gzip-compressed file for reading.",
        "category": "compression",
        "status": "draft",
        "source": "gzip",
    }
    response = admin_client.post(url, data)

    assert response.status_code == 302
    assert Document.objects.get(pk=doc.pk).status == "draft"


def test_the_add_page_has_no_similar_items(admin_client, docs):
    response = admin_client.get(reverse("admin:documents_document_add"))
    assert response.status_code == 200
    assert "Similar items" not in response.text


# -- actions -----------------------------------------------------------------------------------


def run_action(client, model, action, objs):
    url = reverse(f"vectors:{model._meta.app_label}_{model._meta.model_name}_changelist")
    data = {"action": action, "_selected_action": [obj.pk for obj in objs]}
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    return response


def embedded(text):
    return np.asarray(counting.embed([text])[0], dtype=np.float32)


def test_both_actions_are_offered(admin_client):
    Entry.objects.create(title="one", body="row")  # Django offers actions when there are rows
    url = reverse("vectors:testapp_entry_changelist")
    response = admin_client.get(url)
    assert '<option value="reembed_selected">Re-embed selected entrys</option>' in response.text
    assert '<option value="resync_selected">Re-sync selected entrys</option>' in response.text


def test_users_who_may_only_view_rows_are_not_offered_the_actions(client, django_user_model):
    from django.contrib.auth.models import Permission

    Entry.objects.create(title="one", body="row")
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_entry"))
    client.force_login(viewer)

    response = client.get(reverse("vectors:testapp_entry_changelist"))

    assert response.status_code == 200
    assert "reembed_selected" not in response.text
    assert "resync_selected" not in response.text


def test_reembed_recomputes_vectors_whose_text_did_not_change(admin_client, monkeypatch):
    entries = [Entry.objects.create(title=f"entry {i}", body=f"about topic {i}") for i in range(3)]
    stale = [0.5] * 8
    Entry.objects.update(embedding=stale)
    monkeypatch.setattr(site._registry[Entry], "vector_batch_size", 1)
    before = len(counting.batches)

    response = run_action(admin_client, Entry, "reembed_selected", entries[:2])

    assert messages_of(response) == ["Re-embedded 2 entrys."]
    assert len(counting.batches) - before == 2  # two batches of one row
    for entry in entries[:2]:
        entry.refresh_from_db()
        assert np.allclose(entry.embedding, embedded(f"{entry.title}\n{entry.body}"), atol=1e-6)
    entries[2].refresh_from_db()
    assert entries[2].embedding == pytest.approx(stale)


@pytest.mark.django_db(transaction=True)
def test_reembed_of_a_synced_field_reaches_the_store(admin_client):
    with transaction.atomic():
        article = RemoteArticle.objects.create(title="Reading CSV", body="rows and columns")
    RemoteArticle.objects.update(embedding=[0.25] * 8)  # synced as it is, text unchanged
    vid = article.vector_id
    assert remote_stores.stored(RemoteArticle)[vid].values == pytest.approx([0.25] * 8)

    response = run_action(admin_client, RemoteArticle, "reembed_selected", [article])

    assert messages_of(response) == ["Re-embedded 1 remote article."]
    expected = embedded(article_text(article))
    assert np.allclose(remote_stores.stored(RemoteArticle)[vid].values, expected, atol=1e-6)


def test_reembed_clears_the_vector_of_a_row_without_text(admin_client):
    article = RemoteArticle.objects.create(title="", body="")
    RemoteArticle.objects.update(embedding=[0.25] * 8)
    response = run_action(admin_client, RemoteArticle, "reembed_selected", [article])
    assert messages_of(response) == [
        "Re-embedded 0 remote articles. 1 had no text to embed, so their vectors were cleared."
    ]
    article.refresh_from_db()
    assert article.embedding is None


def test_reembed_without_a_source_is_an_error_message(admin_client):
    doc = PlainDocument.objects.create(title="a", embedding=[1, 0, 0])
    response = run_action(admin_client, PlainDocument, "reembed_selected", [doc])

    assert messages_of(response) == [
        "Nothing was re-embedded: testapp.Document.embedding has no source=: its vectors are "
        "assigned, not computed from text."
    ]
    doc.refresh_from_db()
    assert doc.embedding == [1.0, 0.0, 0.0]


def test_reembed_without_an_embedder_is_an_error_message(admin_client, monkeypatch):
    entry = Entry.objects.create(title="kept", body="as it is")
    before = entry.embedding
    monkeypatch.setattr(Entry._meta.get_field("embedding"), "embedder", None)

    response = run_action(admin_client, Entry, "reembed_selected", [entry])

    [message] = messages_of(response)
    assert message.startswith("Nothing was re-embedded: testapp.Entry.embedding has source=")
    assert "embedder=" in message
    entry.refresh_from_db()
    assert entry.embedding == pytest.approx(before)


def test_resync_writes_the_stored_vectors_to_the_store_again(admin_client):
    docs = [
        RemoteDocument.objects.create(title="a", category="x", embedding=[1, 0, 0]),
        RemoteDocument.objects.create(title="b", category="y", embedding=[0, 1, 0]),
    ]
    assert remote_stores.count(RemoteDocument) == 0  # on_commit never ran in this transaction

    response = run_action(admin_client, RemoteDocument, "resync_selected", docs)

    assert messages_of(response) == ["Re-synced 2 remote documents to 'remote-docs'."]
    stored = remote_stores.stored(RemoteDocument)
    assert stored[docs[0].vector_id].values == [1.0, 0.0, 0.0]
    assert stored[docs[1].vector_id].metadata == {"category": "y", "status": "draft"}


def test_resync_removes_rows_without_a_vector_from_the_store(admin_client):
    doc = RemoteDocument.objects.create(title="a", embedding=[1, 0, 0])
    doc.index_vector()
    RemoteDocument.objects.filter(pk=doc.pk).update(embedding=None)  # its sync never ran

    response = run_action(admin_client, RemoteDocument, "resync_selected", [doc])

    assert messages_of(response) == [
        "Re-synced 1 remote document to 'remote-docs'. 1 without a vector were removed from it."
    ]
    assert remote_stores.count(RemoteDocument) == 0


def test_resync_of_an_in_place_field_changes_nothing_and_says_why(admin_client):
    entry = Entry.objects.create(title="in place", body="the column is the index")
    response = run_action(admin_client, Entry, "resync_selected", [entry])
    assert messages_of(response) == [
        "Nothing to re-sync: testapp.Entry.embedding is searched in place, its column is the index."
    ]


# -- fallbacks and configuration ---------------------------------------------------------------


def test_a_model_without_an_embedder_falls_back_to_djangos_search(admin_client):
    PlainDocument.objects.create(title="csv reader", embedding=[1, 0, 0])
    PlainDocument.objects.create(title="gzip", embedding=[0, 1, 0])

    response = admin_client.get(reverse("vectors:testapp_document_changelist"), {"q": "csv"})

    assert response.status_code == 200
    assert shown_titles(response) == ["csv reader"]
    [message] = messages_of(response)
    assert message.startswith("testapp.Document.embedding has ")
    assert "no embedder=" in message
    assert message.endswith("Showing Django's search (title) instead.")
    assert "—" in response.text and shown_scores(response) == []


def test_a_query_the_vector_search_refuses_falls_back_with_a_message(admin_client, monkeypatch):
    Entry.objects.create(title="!!!", body="")
    monkeypatch.setattr(site._registry[Entry], "vector_search_mode", "vector")

    response = admin_client.get(reverse("vectors:testapp_entry_changelist"), {"q": "!!!"})

    assert response.status_code == 200
    assert shown_titles(response) == ["!!!"]  # Django's search of the title
    [message] = messages_of(response)
    assert "zero" in message.lower()


def test_keyword_mode_on_a_field_without_text_search_falls_back(admin_client, monkeypatch):
    PlainDocument.objects.create(title="csv reader", embedding=[1, 0, 0])
    monkeypatch.setattr(site._registry[PlainDocument], "vector_search_mode", "keyword")

    response = admin_client.get(reverse("vectors:testapp_document_changelist"), {"q": "csv"})

    assert shown_titles(response) == ["csv reader"]
    [message] = messages_of(response)
    assert message.startswith("testapp.Document.embedding has no keyword search")


def test_the_search_fields_default_to_the_vector_fields_text(admin_client):
    RemoteArticle.objects.create(title="Reading CSV", body="rows")
    response = admin_client.get(reverse("vectors:testapp_remotearticle_changelist"))
    # A callable source names no fields: no search box, rather than a broken one.
    assert response.context["cl"].search_fields == []
    assert 'id="searchbar"' not in response.text

    class Bare(VectorSearchAdmin):
        pass

    assert Bare(Entry, site).get_search_fields(None) == ["title", "body"]
    assert site._registry[Entry].get_search_fields(None) == ["title"]  # declared ones win


def test_a_bad_mode_fails_the_admin_checks():
    class Misconfigured(VectorSearchAdmin):
        vector_search_mode = "semantic"

    class NoVectors(VectorSearchAdmin):
        vector_search_field = "title"

    assert "vectra_django.E040" in [e.id for e in Misconfigured(Entry, site).check()]
    assert "vectra_django.E040" in [e.id for e in NoVectors(Entry, site).check()]
    assert "vectra_django.E040" not in [e.id for e in EntryAdmin(Entry, site).check()]


def test_importing_the_module_registers_nothing():
    """Django's autodiscovery imported it at setup (vectra_django is an installed app)."""
    import sys

    assert "vectra_django.admin" in sys.modules
    registry = admin.site._registry
    assert [m for m in registry if m._meta.app_label == "vectra_django"] == []
    assert [a for a in registry.values() if type(a).__module__ == "vectra_django.admin"] == []
