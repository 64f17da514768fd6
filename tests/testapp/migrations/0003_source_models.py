import django.db.models.deletion
from django.db import migrations, models

import vectra_django


class Migration(migrations.Migration):
    dependencies = [
        ("testapp", "0002_vector_models"),
    ]

    operations = [
        migrations.CreateModel(
            name="Article",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("title", models.CharField(max_length=200)),
                ("body", models.TextField(blank=True, null=True)),
                ("status", models.CharField(default="draft", max_length=20)),
                ("embedding", vectra_django.VectorField(dimensions=8, null=True)),
            ],
            options={
                "abstract": False,
            },
        ),
        migrations.CreateModel(
            name="RemoteArticle",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("title", models.CharField(max_length=200)),
                ("body", models.TextField(blank=True)),
                ("status", models.CharField(default="draft", max_length=20)),
                ("embedding", vectra_django.VectorField(dimensions=8, null=True)),
            ],
            options={
                "abstract": False,
            },
        ),
        migrations.CreateModel(
            name="FeaturedArticle",
            fields=[
                (
                    "article_ptr",
                    models.OneToOneField(
                        auto_created=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        parent_link=True,
                        primary_key=True,
                        serialize=False,
                        to="testapp.article",
                    ),
                ),
                ("rank", models.IntegerField(default=0)),
            ],
            options={
                "abstract": False,
            },
            bases=("testapp.article",),
        ),
        migrations.CreateModel(
            name="ArticleProxy",
            fields=[],
            options={
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("testapp.article",),
        ),
    ]
