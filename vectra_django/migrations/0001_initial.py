from django.db import migrations, models
from django.db.models.functions import Now


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="SyncEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "model",
                    models.CharField(
                        help_text="Label of the model declaring the field.", max_length=200
                    ),
                ),
                ("object_pk", models.TextField(help_text="The row's primary key, as text.")),
                (
                    "op",
                    models.CharField(help_text='"upsert" or "delete", when written.', max_length=6),
                ),
                ("created_at", models.DateTimeField(db_default=Now())),
                (
                    "available_at",
                    models.DateTimeField(db_default=Now(), help_text="Not drained before this."),
                ),
                ("attempts", models.PositiveIntegerField(db_default=0)),
                ("last_error", models.TextField(blank=True, db_default="")),
                (
                    "parked",
                    models.BooleanField(
                        db_default=False,
                        help_text="Failed too often; waits for vectra_sync --retry-parked.",
                    ),
                ),
            ],
            options={
                "verbose_name": "sync outbox entry",
                "verbose_name_plural": "sync outbox entries",
                "db_table": "vectra_sync_outbox",
                "indexes": [
                    models.Index(fields=["parked", "available_at"], name="vectra_outbox_due")
                ],
            },
        ),
    ]
