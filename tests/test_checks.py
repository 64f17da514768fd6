"""System checks for vector fields."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.django_db(
    databases="__all__"
)  # Django 6.1 asks the server's version for generated columns
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


# -- E023/E024: vectors kept on, or synced from, a database that is not PostgreSQL -----------


class RemoteDocumentOnLite:
    """Routes RemoteDocument's writes to the SQLite database ``lite``."""

    def db_for_write(self, model, **hints):
        return "lite" if model is RemoteDocument else None


@pytest.fixture
def lite(tmp_path):
    """A SQLite database ``lite`` beside the test database (real, never connected to)."""
    from django.db import connections

    configured = connections.configure_settings(
        {
            "default": connections.settings["default"],
            "lite": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "lite.db")},
        }
    )
    connections.settings["lite"] = configured["lite"]
    yield "lite"
    if hasattr(connections._connections, "lite"):
        connections["lite"].close()
        del connections._connections.lite
    del connections.settings["lite"]


def vector_database_errors():
    from vectra_django.checks import check_vector_databases

    return [(e.id, e.obj) for e in check_vector_databases()]


def test_the_test_settings_have_no_vector_database_errors():
    assert vector_database_errors() == []


def test_pgvector_alias_on_sqlite_is_e023(settings, lite):
    settings.VECTRA = {**settings.VECTRA, "lite": {"PROVIDER": "pgvector", "DATABASE": lite}}

    assert vector_database_errors() == [("vectra_django.E023", "settings.VECTRA['lite']")]
    from vectra_django.checks import check_vector_databases

    (error,) = check_vector_databases()
    assert "'lite', which is sqlite, not PostgreSQL" in error.msg
    assert "embedded.database_config" in error.hint


def test_pgvector_alias_on_a_missing_database_is_e023(settings):
    settings.VECTRA = {**settings.VECTRA, "gone": {"PROVIDER": "pgvector", "DATABASE": "gone"}}

    assert vector_database_errors() == [("vectra_django.E023", "settings.VECTRA['gone']")]


def test_pgvector_alias_with_its_own_url_is_not_e023(settings, lite):
    pgvector_url = {"PROVIDER": "pgvector", "DATABASE": lite, "URL": "postgresql://h/db"}
    settings.VECTRA = {**settings.VECTRA, "lite": pgvector_url}

    assert vector_database_errors() == []


def test_synced_field_on_sqlite_is_e024_while_sync_goes_through_the_outbox(settings, lite):
    settings.DATABASE_ROUTERS = ["tests.test_checks.RemoteDocumentOnLite"]

    field = RemoteDocument._meta.get_field("embedding")
    assert vector_database_errors() == [("vectra_django.E024", field)]
    settings.VECTRA_SYNC = "task"
    assert vector_database_errors() == [("vectra_django.E024", field)]


def test_synced_field_on_sqlite_is_fine_with_immediate_sync(settings, lite):
    settings.DATABASE_ROUTERS = ["tests.test_checks.RemoteDocumentOnLite"]
    settings.VECTRA_SYNC = "immediate"

    assert vector_database_errors() == []


# -- the same on a new project's SQLite, as `manage.py` runs them ------------------------------

LITE_SETTINGS = """
SECRET_KEY = "lite"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "vectra_django", "shop"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
VECTRA = {{"default": {{"PROVIDER": {provider!r}, "DATABASE": "default"}}}}
VECTRA_SYNC = {sync!r}
"""
LITE_MODEL = """
from django.db import models
from vectra_django import VectorField, VectorMixin


class Item(VectorMixin, models.Model):
    title = models.CharField(max_length=20)
    embedding = VectorField(dimensions=3, null=True, index="items", metadata_fields=["title"])
"""
SEARCH = (
    "from shop.models import Item; Item.objects.create(title='a', embedding=[1, 0, 0]); "
    "print([i.title for i in Item.objects.vector_search([1, 0, 0], limit=1)])"
)


def lite_project(root: Path, provider: str, sync: str = "on_commit"):
    """A project on SQLite with one app and one vector field; returns its manage.py."""
    (root / "shop" / "migrations").mkdir(parents=True, exist_ok=True)
    for name in ("shop/__init__.py", "shop/migrations/__init__.py"):
        (root / name).touch()
    (root / "shop" / "models.py").write_text(LITE_MODEL)
    (root / "lite_settings.py").write_text(LITE_SETTINGS.format(provider=provider, sync=sync))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
    env["PYTHONPATH"] = f"{root}{os.pathsep}{Path(__file__).resolve().parents[1]}"
    env["DJANGO_SETTINGS_MODULE"] = "lite_settings"

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "django", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return manage


def test_migrate_on_sqlite_stops_at_e023_before_a_save_could_fail(tmp_path):
    manage = lite_project(tmp_path, "pgvector")

    for command in (["check"], ["migrate", "--noinput"]):
        done = manage(*command)
        assert done.returncode == 1, done.stdout
        assert "vectra_django.E023" in done.stderr
        assert "'default', which is sqlite, not PostgreSQL" in done.stderr


def test_synced_field_on_sqlite_works_with_immediate_sync_and_is_e024_without(tmp_path):
    manage = lite_project(tmp_path, "memory", sync="immediate")
    for command in (["makemigrations", "shop"], ["migrate", "--noinput"]):
        assert manage(*command).returncode == 0
    searched = manage("shell", "-c", SEARCH)
    assert searched.returncode == 0, searched.stderr
    assert searched.stdout.strip().splitlines()[-1] == "['a']"

    manage = lite_project(tmp_path, "memory", sync="on_commit")
    done = manage("check")

    assert done.returncode == 1
    assert "vectra_django.E024" in done.stderr
    assert "shop.Item.embedding" in done.stderr
