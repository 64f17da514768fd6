from django.db import migrations, models

import vectra_django


class Migration(migrations.Migration):
    dependencies = [
        ("testapp", "0003_source_models"),
    ]

    operations = [
        migrations.CreateModel(
            name="RequiredVectorDocument",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
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
