"""VectorField(text_search=...): the generated tsvector column, its index, migrations, checks."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection, models
from django.db.migrations.state import ProjectState
from django.test.utils import isolate_apps

from tests.testapp.models import Entry, RemoteEntry
from vectra_django import TextSearchColumn, VectorField
from vectra_django.db.text import record_attnames, record_parts, text_column, text_fields

EMBEDDER = "tests.testapp.embedders.counting"


@isolate_apps("tests.testapp")
def make_model(**options):
    class Model(models.Model):
        title = models.CharField(max_length=10)
        body = models.TextField(blank=True)
        embedding = VectorField(**{"dimensions": 3, **options})

        class Meta:
            app_label = "testapp"

    return Model


def check_ids(model) -> list[str]:
    return [e.id for e in model._meta.get_field("embedding").check()]


def test_source_fields_are_read_by_default():
    model = make_model(source=("title", "body"), embedder=EMBEDDER, dimensions=8, text_search=True)
    column = model._meta.get_field("embedding_text_search")
    assert isinstance(column, TextSearchColumn)
    assert column.text_fields == ("title", "body") and column.text_config == "english"
    assert [i.fields for i in model._meta.indexes] == [["embedding_text_search"]]
    assert check_ids(model) == []


def test_named_fields_and_configuration():
    model = make_model(text_search=["body"], text_config="simple")
    column = model._meta.get_field("embedding_text_search")
    assert column.text_fields == ("body",) and column.text_config == "simple"


def test_no_text_search_adds_nothing():
    model = make_model()
    assert text_column(model._meta.get_field("embedding")) is None
    assert all(f.name != "embedding_text_search" for f in model._meta.get_fields())
    assert model._meta.indexes == []


def test_a_callable_source_needs_named_fields():
    model = make_model(
        source=lambda obj: obj.title, embedder=EMBEDDER, dimensions=8, text_search=True
    )
    assert check_ids(model) == ["vectra_django.E021"]
    assert all(f.name != "embedding_text_search" for f in model._meta.get_fields())


def test_a_bad_configuration_name_is_an_error():
    model = make_model(text_search=["title"], text_config="english; drop table x")
    assert check_ids(model) == ["vectra_django.E021"]


def test_an_unknown_field_is_an_error():
    model = make_model(text_search=["title", "subtitle"])
    assert check_ids(model) == ["vectra_django.E022"]


def test_abstract_parents_give_each_child_its_own_column():
    @isolate_apps("tests.testapp")
    def build():
        class Base(models.Model):
            title = models.CharField(max_length=10)
            embedding = VectorField(dimensions=3, text_search=["title"])

            class Meta:
                abstract = True
                app_label = "testapp"

        class First(Base):
            class Meta:
                app_label = "testapp"

        class Second(Base):
            class Meta:
                app_label = "testapp"

        return Base, First, Second

    base, first, second = build()
    assert base._meta.indexes == []
    for child in (first, second):
        names = [f.name for f in child._meta.local_fields]
        assert names.count("embedding_text_search") == 1
        assert len(child._meta.indexes) == 1
    assert first._meta.indexes[0].name != second._meta.indexes[0].name


def test_models_rebuilt_from_migrations_have_the_column_once():
    state = ProjectState.from_apps(apps)
    rendered = state.apps.get_model("testapp", "Entry")
    names = [f.name for f in rendered._meta.local_fields]
    assert names.count("embedding_text_search") == 1
    assert len([i for i in rendered._meta.indexes if i.fields == ["embedding_text_search"]]) == 1


def test_the_field_deconstructs_without_its_keyword_options():
    _, path, _, kwargs = Entry._meta.get_field("embedding").deconstruct()
    assert path == "vectra_django.VectorField" and "text_search" not in kwargs
    _, path, _, kwargs = Entry._meta.get_field("embedding_text_search").deconstruct()
    assert path == "vectra_django.TextSearchColumn"
    assert kwargs == {"fields": ["title", "body"], "config": "english"}
    assert TextSearchColumn(**kwargs).text_fields == ("title", "body")


@pytest.mark.django_db
def test_the_column_follows_every_write_path():
    Entry.objects.bulk_create([Entry(title="bulk quokka")])
    entry = Entry.objects.create(title="saved")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE testapp_entry SET body = 'raw wombat' WHERE id = %s", [entry.pk])
    assert [e.title for e in Entry.objects.text_search("quokka")] == ["bulk quokka"]
    assert [e.title for e in Entry.objects.text_search("wombat")] == ["saved"]


def test_synced_records_are_made_of_metadata_then_text():
    vf = RemoteEntry._meta.get_field("embedding")
    assert text_fields(vf) == ("title", "body")
    assert record_attnames(vf) == ["category", "title", "body"]
    assert record_parts(vf, ["city", "Title", ""]) == ({"category": "city"}, "Title")
    assert record_parts(vf, ["city", None, ""]) == ({"category": "city"}, None)


def test_a_change_of_a_text_field_needs_a_sync():
    vf = RemoteEntry._meta.get_field("embedding")
    assert {"title", "body", "category"} <= vf.sync_fields()
