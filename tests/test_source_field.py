"""``VectorField(source=..., embedder=...)``: the vector is computed on save, only when the
source text changed, in save(), update_fields saves, bulk writes and synced stores alike."""

from __future__ import annotations

import django
import pytest
from django.db import connection, models, transaction
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.state import ModelState, ProjectState
from django.test.utils import CaptureQueriesContext

from tests.testapp.embedders import DIMENSIONS, CountingEmbedder, counting
from tests.testapp.models import (
    Article,
    ArticleProxy,
    Document,
    FeaturedArticle,
    RemoteArticle,
    article_text,
)
from vectra_django import VectorField, clients
from vectra_django.embedders import HashingEmbedder
from vectra_django.errors import ConfigurationError, ValidationError

pytestmark = pytest.mark.django_db

OTHER = [1.0, 0, 0, 0, 0, 0, 0, 0]


@pytest.fixture(autouse=True)
def fresh():
    counting.batches.clear()
    clients.reset()
    yield
    clients.reset()


def vector_of(text: str) -> list[float]:
    return HashingEmbedder(DIMENSIONS).embed_one(text).tolist()


def stored_vector(model: type[models.Model], pk: int) -> list[float] | None:
    return model.objects.values_list("embedding", flat=True).get(pk=pk)


def written_columns(queries: CaptureQueriesContext) -> str:
    """The SQL of the UPDATE statements run, to see which columns a save wrote."""
    return " ".join(q["sql"] for q in queries if q["sql"].startswith("UPDATE"))


# -- save() -----------------------------------------------------------------------------------


def test_vector_is_computed_on_create():
    article = Article.objects.create(title="Read CSV files", body="with the csv module")
    assert article.embedding == pytest.approx(vector_of("Read CSV files\nwith the csv module"))
    assert stored_vector(Article, article.pk) == pytest.approx(article.embedding)
    assert counting.batches == [["Read CSV files\nwith the csv module"]]


def test_saving_an_unchanged_source_does_not_embed_again():
    article = Article.objects.create(title="Read CSV files", body="csv")
    article.status = "published"
    article.save()
    loaded = Article.objects.get(pk=article.pk)
    loaded.status = "archived"
    loaded.save()
    assert len(counting.batches) == 1


def test_changing_the_source_recomputes_the_vector():
    Article.objects.create(title="Read CSV files", body="csv")
    loaded = Article.objects.get()
    loaded.body = "gzip"
    loaded.save()
    assert counting.texts == ["Read CSV files\ncsv", "Read CSV files\ngzip"]
    assert stored_vector(Article, loaded.pk) == pytest.approx(vector_of("Read CSV files\ngzip"))


def test_update_fields_with_a_changed_source_also_writes_the_vector():
    loaded = Article.objects.get(pk=Article.objects.create(title="csv", body="read").pk)
    loaded.title = "gzip"
    with CaptureQueriesContext(connection) as queries:
        loaded.save(update_fields=["title"])
    assert '"embedding"' in written_columns(queries)
    assert stored_vector(Article, loaded.pk) == pytest.approx(vector_of("gzip\nread"))


def test_update_fields_may_be_any_iterable():
    loaded = Article.objects.get(pk=Article.objects.create(title="csv").pk)
    loaded.title = "gzip"
    loaded.save(update_fields=(name for name in ["title"]))
    assert Article.objects.get(pk=loaded.pk).title == "gzip"
    assert stored_vector(Article, loaded.pk) == pytest.approx(vector_of("gzip"))


def test_update_fields_without_a_source_change_leave_the_vector_alone():
    loaded = Article.objects.get(pk=Article.objects.create(title="csv", body="read").pk)
    loaded.status = "published"
    with CaptureQueriesContext(connection) as queries:
        loaded.save(update_fields=["status"])
        loaded.save(update_fields=["title"])  # listed, but the text is the same
    assert '"embedding"' not in written_columns(queries)
    assert len(counting.batches) == 1


def test_update_fields_naming_a_cleared_vector_recompute_it():
    article = Article.objects.create(title="csv", body="read")
    article.embedding = None
    article.save(update_fields=["embedding"])
    assert stored_vector(Article, article.pk) == pytest.approx(vector_of("csv\nread"))
    assert len(counting.batches) == 2


@pytest.mark.skipif(django.VERSION >= (6, 0), reason="Django 6 removed positional save() arguments")
def test_positional_save_arguments_are_understood():
    loaded = Article.objects.get(pk=Article.objects.create(title="csv").pk)
    loaded.title = "gzip"
    with pytest.warns(DeprecationWarning):
        loaded.save(False, False, None, ["title"])
    assert stored_vector(Article, loaded.pk) == pytest.approx(vector_of("gzip"))


def test_saving_a_row_loaded_without_its_vector_writes_the_new_one():
    article = Article.objects.create(title="csv", body="read")
    loaded = Article.objects.defer("embedding").get(pk=article.pk)
    loaded.title = "gzip"
    loaded.save()
    assert stored_vector(Article, article.pk) == pytest.approx(vector_of("gzip\nread"))


def test_saving_a_row_loaded_without_its_source_costs_no_query_or_embedding(
    django_assert_num_queries,
):
    article = Article.objects.create(title="csv", body="read")
    loaded = Article.objects.only("status").get(pk=article.pk)
    loaded.status = "published"
    with django_assert_num_queries(1):
        loaded.save()
    assert len(counting.batches) == 1


# -- empty sources and explicit vectors ---------------------------------------------------------


def test_an_empty_source_gives_no_vector_and_no_embedder_call():
    article = Article.objects.create(title="", body=None)
    assert article.embedding is None
    assert stored_vector(Article, article.pk) is None
    assert counting.batches == []


def test_emptying_the_source_clears_the_vector():
    loaded = Article.objects.get(pk=Article.objects.create(title="csv", body="read").pk)
    loaded.title, loaded.body = "", ""
    loaded.save(update_fields=["title", "body"])
    assert stored_vector(Article, loaded.pk) is None


def test_one_empty_field_of_several_leaves_no_separator():
    article = Article.objects.create(title="csv", body=None)
    assert counting.texts == ["csv"]
    assert article.embedding == pytest.approx(vector_of("csv"))


def test_a_vector_given_at_creation_is_kept():
    article = Article.objects.create(title="csv", embedding=OTHER)
    assert stored_vector(Article, article.pk) == OTHER
    assert counting.batches == []


def test_a_vector_assigned_after_the_source_changed_is_kept():
    loaded = Article.objects.get(pk=Article.objects.create(title="csv").pk)
    loaded.title = "gzip"
    loaded.embedding = OTHER
    loaded.save()
    assert stored_vector(Article, loaded.pk) == OTHER
    new = Article(title="zip")
    new.embedding = OTHER
    new.save()
    assert stored_vector(Article, new.pk) == OTHER
    assert len(counting.batches) == 1


def test_a_source_change_after_an_assigned_vector_wins():
    loaded = Article.objects.get(pk=Article.objects.create(title="csv").pk)
    loaded.embedding = OTHER
    loaded.title = "gzip"
    loaded.save()
    assert stored_vector(Article, loaded.pk) == pytest.approx(vector_of("gzip"))


def test_a_wrong_dimension_from_the_embedder_is_a_validation_error(monkeypatch):
    field = Article._meta.get_field("embedding")
    monkeypatch.setattr(field, "embedder", HashingEmbedder(dimension=4))
    monkeypatch.setattr(field, "_embedder", None)
    with pytest.raises(ValidationError, match="dimension"):
        Article.objects.create(title="csv")


# -- inheritance ------------------------------------------------------------------------------


def test_proxy_instances_are_tracked_too():
    article = Article.objects.create(title="csv")
    proxy = ArticleProxy.objects.get(pk=article.pk)
    proxy.status = "published"
    proxy.save()
    assert len(counting.batches) == 1
    proxy.title = "gzip"
    proxy.save()
    assert stored_vector(Article, article.pk) == pytest.approx(vector_of("gzip"))


def test_multi_table_children_compute_the_parents_vector():
    featured = FeaturedArticle.objects.create(title="csv", rank=1)
    assert stored_vector(Article, featured.pk) == pytest.approx(vector_of("csv"))
    loaded = FeaturedArticle.objects.get(pk=featured.pk)
    loaded.rank = 2
    loaded.save()
    assert len(counting.batches) == 1


# -- bulk writes ------------------------------------------------------------------------------


def test_bulk_create_embeds_the_batch_in_one_call():
    articles = Article.objects.bulk_create(Article(title=f"article {i}") for i in range(5))
    assert counting.batches == [[f"article {i}" for i in range(5)]]
    stored = dict(Article.objects.values_list("pk", "embedding"))
    assert stored[articles[3].pk] == pytest.approx(vector_of("article 3"))


def test_bulk_update_of_a_source_embeds_the_changed_rows_in_one_call():
    Article.objects.bulk_create(Article(title=f"article {i}") for i in range(4))
    articles = list(Article.objects.order_by("pk"))
    counting.batches.clear()
    articles[1].title = "changed"
    articles[2].title = "changed too"
    Article.objects.bulk_update(articles, ["title"])
    assert counting.batches == [["changed", "changed too"]]
    assert stored_vector(Article, articles[2].pk) == pytest.approx(vector_of("changed too"))


def test_bulk_update_of_other_fields_embeds_nothing():
    Article.objects.bulk_create(Article(title=f"article {i}") for i in range(2))
    articles = list(Article.objects.all())
    counting.batches.clear()
    for article in articles:
        article.status = "published"
    with CaptureQueriesContext(connection) as queries:
        Article.objects.bulk_update(articles, ["status"])
    assert counting.batches == []
    assert '"embedding"' not in written_columns(queries)


def test_bulk_update_of_empty_vectors_computes_them():
    Article.objects.bulk_create(Article(title=f"article {i}") for i in range(3))
    Article.objects.update(embedding=None)
    missing = list(Article.objects.filter(embedding__isnull=True))
    counting.batches.clear()
    Article.objects.bulk_update(missing, ["embedding"])
    assert len(counting.batches) == 1
    assert not Article.objects.filter(embedding__isnull=True).exists()


# -- a synced store -----------------------------------------------------------------------------


def stored_remote(article: RemoteArticle):
    client = clients["memory"]
    return client.fetch("remote-articles", [article.vector_id]).get(article.vector_id)


def test_the_synced_vector_is_the_computed_one(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        article = RemoteArticle.objects.create(title="csv", body="read", status="draft")
    assert stored_remote(article).values == pytest.approx(vector_of("csv: read"))
    assert stored_remote(article).metadata == {"status": "draft"}

    loaded = RemoteArticle.objects.get(pk=article.pk)
    loaded.body = "gzip"
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        loaded.save(update_fields=["body"])
    assert stored_remote(article).values == pytest.approx(vector_of("csv: gzip"))


def test_a_callable_source_is_compared_on_every_update_fields_save(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        article = RemoteArticle.objects.create(title="csv", body="read")
        loaded = RemoteArticle.objects.get(pk=article.pk)
        loaded.status = "published"
        loaded.save(update_fields=["status"])
    assert len(counting.batches) == 1
    assert stored_remote(article).metadata == {"status": "published"}
    assert article_text(loaded) == "csv: read"


def test_bulk_create_syncs_the_computed_vectors(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        articles = RemoteArticle.objects.bulk_create(
            RemoteArticle(title=f"article {i}") for i in range(3)
        )
    assert len(counting.batches) == 1
    assert stored_remote(articles[2]).values == pytest.approx(vector_of("article 2"))


def test_an_emptied_source_removes_the_synced_vector(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        article = RemoteArticle.objects.create(title="csv")
    assert stored_remote(article) is not None
    article.title = ""
    with django_capture_on_commit_callbacks(execute=True):
        article.save()
    assert stored_remote(article) is None


# -- the embedder option --------------------------------------------------------------------


def test_a_dotted_path_embedder_is_resolved_once():
    field = Article._meta.get_field("embedding")
    assert field.get_embedder() is counting
    assert field.get_embedder() is field.get_embedder()


def test_a_class_embedder_is_built_again_after_a_settings_change(settings):
    field = VectorField(dimensions=8, source="title", embedder=CountingEmbedder)
    first = field.get_embedder()
    assert field.get_embedder() is first
    settings.VECTRA_SYNC = "immediate"
    assert field.get_embedder() is not first


def test_a_source_without_an_embedder_cannot_embed():
    field = VectorField(dimensions=8, source="title")
    field.set_attributes_from_name("embedding")
    with pytest.raises(ConfigurationError, match="no embedder"):
        field.get_embedder()
    assert VectorField(dimensions=8).embed([Article(title="x")]) == 0


# -- checks ---------------------------------------------------------------------------------


def source_errors(model: type[models.Model] = Article, **options) -> list[str]:
    field = VectorField(**{"dimensions": DIMENSIONS, **options})
    field.set_attributes_from_name("vector")
    field.model = model
    return [e.id for e in field.check() if e.id.startswith("vectra_django.")]


@pytest.mark.parametrize(
    "source", ["title", ("title", "body"), ["title", "body"], article_text, lambda a: a.title]
)
def test_valid_sources_pass_the_checks(source):
    assert source_errors(source=source, embedder=counting) == []


@pytest.mark.parametrize("source", ["colour", ("title", "nope"), "embedding", (), 42, ("a", 1)])
def test_a_source_that_is_not_a_text_field_is_e013(source):
    assert set(source_errors(source=source, embedder=counting)) == {"vectra_django.E013"}


def test_a_relation_as_source_is_e013():
    assert source_errors(FeaturedArticle, source="article_ptr", embedder=counting) == [
        "vectra_django.E013"
    ]


def test_source_and_embedder_go_together_e014():
    assert source_errors(source="title") == ["vectra_django.E014"]
    assert source_errors(embedder=counting) == ["vectra_django.E014"]


def test_an_unusable_embedder_is_e015():
    assert source_errors(source="title", embedder="tests.nowhere.Embedder") == [
        "vectra_django.E015"
    ]


def test_an_embedder_of_another_dimension_is_e016():
    errors = source_errors(source="title", embedder=HashingEmbedder(dimension=16))
    assert errors == ["vectra_django.E016"]


def test_the_check_message_names_both_dimensions():
    field = VectorField(dimensions=8, source="title", embedder=HashingEmbedder(dimension=16))
    field.set_attributes_from_name("vector")
    field.model = Document
    (error,) = [e for e in field.check() if e.id == "vectra_django.E016"]
    assert "16-dimensional" in error.msg and "dimensions=8" in error.msg


# -- migrations ----------------------------------------------------------------------------


def test_deconstruct_leaves_out_source_and_embedder():
    field = VectorField(dimensions=8, null=True, source="title", embedder=counting)
    _, _, args, kwargs = field.deconstruct()
    assert (args, kwargs) == ([], {"dimensions": 8, "null": True})


def test_changing_source_or_embedder_needs_no_migration():
    def project(**options):
        state = ProjectState()
        fields = [
            ("id", models.AutoField(primary_key=True)),
            ("title", models.CharField(max_length=10)),
            ("embedding", VectorField(dimensions=8, **options)),
        ]
        state.add_model(ModelState("app", "Doc", fields))
        return state

    before = project()
    after = project(source="title", embedder="tests.testapp.embedders.counting")
    assert MigrationAutodetector(before, after)._detect_changes() == {}
