import uuid

from django.db import migrations, models

import vectra_django


class Migration(migrations.Migration):
    dependencies = [
        ("testapp", "0004_required_vector"),
    ]

    operations = [
        migrations.CreateModel(
            name="KeyedDocument",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("title", models.CharField(max_length=200)),
                ("embedding", vectra_django.VectorField(dimensions=3)),
            ],
            options={
                "abstract": False,
            },
        ),
    ]
