"""System checks for vector fields."""

from __future__ import annotations

import pytest
from django.core import checks
from django.db import connection, models

from tests.testapp.models import Document, RemoteDocument
from vectra_django import VectorField, clients
from vectra_django.checks import check_vector_stores, column_errors, extension_errors


@pytest.fixture(autouse=True)
def fresh_clients():
    clients.reset()
    yield
    clients.reset()


def field_errors(**options):
    class Model(models.Model):
        title = models.CharField(max_length=10)
        embedding = VectorField(**options)

        class Meta:
            app_label = "testapp"
            managed = False

    try:
        return [e.id for e in Model._meta.get_field("embedding").check()]
    finally:
        from django.apps import apps

        apps.all_models["testapp"].pop("model", None)
        apps.clear_cache()


def test_valid_field_has_no_errors():
    assert field_errors(dimensions=3, provider="memory", metadata_fields=["title"]) == []


def test_unknown_provider_alias_is_e001():
    assert field_errors(dimensions=3, provider="nowhere") == ["vectra_django.E001"]


def test_unknown_metadata_field_is_e002():
    assert field_errors(dimensions=3, metadata_fields=["title", "colour"]) == ["vectra_django.E002"]


def test_missing_dimensions_is_e010():
    assert field_errors() == ["vectra_django.E010"]


def test_unknown_metric_is_e011():
    assert field_errors(dimensions=3, metric="manhattan") == ["vectra_django.E011"]


def test_bad_index_name_is_e012():
    assert field_errors(dimensions=3, index="Not Valid") == ["vectra_django.E012"]


def test_project_models_pass_the_checks():
    assert [m for m in checks.run_checks() if m.level >= checks.ERROR] == []


@pytest.mark.django_db
def test_database_checks_pass_on_a_migrated_database():
    assert check_vector_stores(databases=["default"]) == []


@pytest.mark.django_db
def test_missing_extension_is_e003():
    vf = Document._meta.get_field("embedding")
    assert extension_errors("default", vf) == []
    errors = extension_errors("default", vf, extension="vector_not_installed_anywhere")
    assert [e.id for e in errors] == ["vectra_django.E003"]


@pytest.mark.django_db
def test_column_dimension_mismatch_is_e004():
    vf = Document._meta.get_field("embedding")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE testapp_document ALTER COLUMN embedding TYPE vector(5)")
    assert [e.id for e in column_errors("default", vf)] == ["vectra_django.E004"]


@pytest.mark.django_db
def test_provider_index_dimension_mismatch_is_e004():
    assert check_vector_stores(databases=["default"]) == []  # missing index: fine, not created
    assert not clients["memory"].index_exists("remote-docs")
    clients["memory"].create_index("remote-docs", dimension=8)
    errors = check_vector_stores(databases=["default"])
    assert [(e.id, e.obj) for e in errors] == [
        ("vectra_django.E004", RemoteDocument._meta.get_field("embedding"))
    ]


def test_database_checks_need_databases():
    assert check_vector_stores(databases=None) == []
