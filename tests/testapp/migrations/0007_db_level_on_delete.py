"""Django 6.1's database-level on_delete (``DB_SET_NULL``, ``DB_CASCADE``): the model exists only
where Django has them, and so does this migration's operation."""

from django.db import migrations, models

import vectra_django

operations = []
if hasattr(models, "DB_SET_NULL"):
    operations = [
        migrations.CreateModel(
            name="Review",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "embedding",
                    vectra_django.VectorField(dimensions=3, null=True),
                ),
                (
                    "author",
                    models.ForeignKey(
                        null=True,
                        on_delete=models.DB_SET_NULL,
                        related_name="reviews",
                        to="testapp.author",
                    ),
                ),
                (
                    "owner",
                    models.ForeignKey(
                        null=True,
                        on_delete=models.DB_CASCADE,
                        related_name="owned_reviews",
                        to="testapp.author",
                    ),
                ),
            ],
        ),
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("testapp", "0006_sync_models"),
    ]

    operations = operations
