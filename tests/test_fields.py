"""VectorField: storage, validation, migrations and index options."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pytest
from django.core import exceptions, serializers
from django.core.management import call_command
from django.db import connection, models
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.state import ModelState, ProjectState
from pgvector import Vector as PgVector

from tests.testapp.models import Document, Product, RemoteDocument
from vectra_django import VectorField
from vectra_django.db.fields import VectorFormField, pk_from_vector_id, vector_id
from vectra_django.errors import ValidationError

pytestmark = pytest.mark.django_db


def test_column_is_pgvector_with_dimensions():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = 'testapp_document'::regclass AND attname = 'embedding'"
        )
        assert cursor.fetchone()[0] == "vector(3)"


def test_portable_type_on_other_databases():
    class FakeConnection:
        vendor = "sqlite"

    assert Document._meta.get_field("embedding").db_type(FakeConnection()) == "text"


def test_values_round_trip_as_float32_lists():
    doc = Document.objects.create(title="a", embedding=np.array([0.1, 0.2, 0.3]))
    assigned = doc.embedding
    doc.refresh_from_db()
    assert isinstance(doc.embedding, list)
    assert doc.embedding == assigned
    assert doc.embedding == pytest.approx([0.1, 0.2, 0.3])


def test_accepts_lists_tuples_and_pgvector_vectors():
    doc = Document(title="a", embedding=(1, 2, 3))
    assert doc.embedding == [1.0, 2.0, 3.0]
    doc.embedding = PgVector([3, 2, 1])
    assert doc.embedding == [3.0, 2.0, 1.0]


def test_none_stays_none():
    doc = Document.objects.create(title="a", embedding=None)
    doc.refresh_from_db()
    assert doc.embedding is None


def test_assignment_rejects_wrong_dimension():
    with pytest.raises(ValidationError, match=r"testapp\.Document\.embedding has dimension 2"):
        Document(title="a", embedding=[1.0, 2.0])


def test_assignment_rejects_nan_and_infinity():
    doc = Document(title="a")
    with pytest.raises(ValidationError, match="NaN or infinity"):
        doc.embedding = [1.0, float("nan"), 0.0]
    with pytest.raises(ValidationError, match="NaN or infinity"):
        doc.embedding = [1.0, float("inf"), 0.0]


def test_assignment_rejects_non_numbers():
    with pytest.raises(ValidationError):
        Document(title="a", embedding=["x", "y", "z"])


def test_queryset_update_rejects_bad_vector_before_writing():
    doc = Document.objects.create(title="a", embedding=[1, 0, 0])
    with pytest.raises(ValidationError):
        Document.objects.filter(pk=doc.pk).update(embedding=[1, 2])
    doc.refresh_from_db()
    assert doc.embedding == [1.0, 0.0, 0.0]


def test_full_clean_reports_django_validation_error():
    field = Document._meta.get_field("embedding")
    with pytest.raises(exceptions.ValidationError):
        field.clean("[1,2]", None)


def test_text_form_is_parsed():
    doc = Document(title="a", embedding="[1, 2.5, -3]")
    assert doc.embedding == [1.0, 2.5, -3.0]


def test_form_field_validates_dimension():
    form_field = Document._meta.get_field("embedding").formfield()
    assert isinstance(form_field, VectorFormField)
    assert form_field.clean("[1,2,3]") == [1.0, 2.0, 3.0]
    with pytest.raises(exceptions.ValidationError):
        form_field.clean("[1,2]")


def test_serializers_round_trip():
    doc = Document.objects.create(title="a", embedding=[0.5, 0.25, 1])
    data = serializers.serialize("json", [doc])
    assert json.loads(data)[0]["fields"]["embedding"] == "[0.5,0.25,1.0]"
    restored = next(serializers.deserialize("json", data)).object
    assert restored.embedding == [0.5, 0.25, 1.0]


def test_deconstruct_keeps_only_what_the_column_needs():
    field = VectorField(
        dimensions=384,
        provider="memory",
        index="docs",
        auto_index=False,
        metadata_fields=["title"],
        metric="euclidean",
        namespace="n",
        null=True,
    )
    _, path, _args, kwargs = field.deconstruct()
    assert path == "vectra_django.VectorField"
    assert kwargs == {"dimensions": 384, "null": True}


def _project(**options):
    project = ProjectState()
    fields = [("id", models.AutoField(primary_key=True)), ("embedding", VectorField(**options))]
    project.add_model(ModelState("app", "Doc", fields))
    return project


def test_changing_sync_options_needs_no_migration():
    before = _project(dimensions=3)
    after = _project(
        dimensions=3, provider="memory", index="other", metric="euclidean", metadata_fields=["id"]
    )
    assert MigrationAutodetector(before, after)._detect_changes() == {}


def test_changing_dimensions_needs_a_migration():
    changes = MigrationAutodetector(
        _project(dimensions=3), _project(dimensions=4)
    )._detect_changes()
    assert [type(op).__name__ for op in changes["app"][0].operations] == ["AlterField"]


def test_makemigrations_check_is_clean():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)  # exits 1 on changes
    assert out.getvalue().strip() == "No changes detected"


def test_vector_ids_use_table_and_pk():
    doc = RemoteDocument.objects.create(title="a")
    assert doc.vector_id == f"testapp_remotedocument_{doc.pk}"
    assert vector_id(RemoteDocument, 7) == "testapp_remotedocument_7"
    assert pk_from_vector_id(RemoteDocument, "testapp_remotedocument_7") == 7
    assert pk_from_vector_id(RemoteDocument, "testapp_document_7") is None


def test_default_index_name_is_table_and_field():
    assert Product._meta.get_field("text").index_name == "testapp_product_text"
    assert RemoteDocument._meta.get_field("embedding").index_name == "remote-docs"


def test_default_index_name_follows_the_stores_naming_rules(settings):
    settings.VECTRA = {**settings.VECTRA, "memory": {"PROVIDER": "pinecone", "API_KEY": "k"}}
    assert Product._meta.get_field("text").index_name == "testapp-product-text"
    assert RemoteDocument._meta.get_field("embedding").index_name == "remote-docs"  # explicit


def test_default_index_name_with_an_unusable_alias_is_table_and_field(settings):
    settings.VECTRA = {**settings.VECTRA, "memory": {"PROVIDER": "no.such.Provider"}}
    assert Product._meta.get_field("text").index_name == "testapp_product_text"


def test_metadata_leaves_out_nulls():
    doc = RemoteDocument(title="a", category="news", status="published", year=None)
    meta = RemoteDocument._meta.get_field("embedding").metadata_for(doc)
    assert meta == {"category": "news", "status": "published"}


def test_metadata_values_become_json_scalars():
    import datetime
    import decimal
    import uuid as uuid_module

    from vectra_django.db.fields import metadata_value

    assert metadata_value(datetime.date(2024, 1, 2)) == "2024-01-02"
    assert metadata_value(decimal.Decimal("1.5")) == 1.5
    u = uuid_module.uuid4()
    assert metadata_value(u) == str(u)
    assert metadata_value(True) is True


def test_opclass_per_metric():
    from vectra_django.indexes import opclass

    assert opclass("cosine") == "vector_cosine_ops"
    assert opclass("dotproduct") == "vector_ip_ops"


def test_form_field_shows_the_text_form():
    form_field = Document._meta.get_field("embedding").formfield()
    assert form_field.prepare_value([1.0, 2.0, 0.5]) == "[1.0,2.0,0.5]"


def test_loaded_vectors_are_exact_plain_lists_and_skip_revalidation(monkeypatch):
    rng = np.random.default_rng(7)
    stored = [
        Document.objects.create(title=str(i), embedding=rng.standard_normal(3)).embedding
        for i in range(20)
    ]
    checked = []
    original = VectorField.coerce
    monkeypatch.setattr(
        VectorField, "coerce", lambda self, value: checked.append(value) or original(self, value)
    )
    loaded = [d.embedding for d in Document.objects.order_by("pk")]
    assert loaded == stored  # float32 values, bit for bit
    assert all(type(v) is list for v in loaded)
    assert checked == []
    doc = Document.objects.first()
    with pytest.raises(ValidationError):
        doc.embedding = [1.0, float("nan"), 0.0]  # assignments are still checked
    assert len(checked) == 1
