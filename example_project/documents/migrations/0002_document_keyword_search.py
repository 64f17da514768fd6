import django.contrib.postgres.indexes
from django.db import migrations

import vectra_django


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="document",
            name="embedding_text_search",
            field=vectra_django.TextSearchColumn(config="english", fields=["title", "content"]),
        ),
        migrations.AddIndex(
            model_name="document",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["embedding_text_search"], name="documents_do_97ed2aae_gin"
            ),
        ),
    ]
