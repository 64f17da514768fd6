import pgvector.django.indexes
from django.db import migrations, models
from pgvector.django import VectorExtension

import vectra_django


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        VectorExtension(),
        migrations.CreateModel(
            name="Document",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("title", models.CharField(max_length=200, unique=True)),
                ("content", models.TextField()),
                ("category", models.CharField(db_index=True, max_length=50)),
                (
                    "status",
                    models.CharField(
                        choices=[("published", "Published"), ("draft", "Draft")],
                        default="published",
                        max_length=20,
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        blank=True, help_text="The module it documents.", max_length=100
                    ),
                ),
                (
                    "embedding",
                    vectra_django.VectorField(
                        blank=True, dimensions=384, editable=False, null=True
                    ),
                ),
            ],
            options={
                "ordering": ["title"],
                "indexes": [
                    pgvector.django.indexes.HnswIndex(
                        ef_construction=64,
                        fields=["embedding"],
                        m=16,
                        name="documents_embedding_hnsw",
                        opclasses=["vector_cosine_ops"],
                    )
                ],
            },
        ),
    ]
