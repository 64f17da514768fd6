"""The benchmark models. Tables are made with ``schema_editor`` by the scripts (no migrations):
``create_model`` also makes what a field adds, such as a keyword column and its GIN index.

``PlainDoc`` is what users write today with pgvector-python's own field (the ``bulk_create``
baseline). The vectra models exist only once the checkout has the ORM layer.
"""

from __future__ import annotations

import importlib.util

from django.db import models
from pgvector.django import VectorField as PgVectorField

DIMENSION = 384


class PlainDoc(models.Model):
    ext_id = models.CharField(max_length=64)
    embedding = PgVectorField(dimensions=DIMENSION)
    metadata = models.JSONField(default=dict)

    class Meta:
        app_label = "bench_app"
        db_table = "bench_plain_doc"


if importlib.util.find_spec("vectra_django.db.mixins") is not None:
    from vectra_django import VectorField, VectorMixin

    class SyncedDoc(VectorMixin, models.Model):
        """Synced to a pgvector index on a URL (another connection): what vectra_reindex fills."""

        title = models.CharField(max_length=100)
        category = models.IntegerField()
        embedding = VectorField(
            dimensions=DIMENSION,
            provider="bench_url",
            index="bench_reindex",
            auto_index=False,
            metadata_fields=["title", "category"],
        )

        class Meta:
            app_label = "bench_app"
            db_table = "bench_synced_doc"

    class SearchDoc(VectorMixin, models.Model):
        """Searched in place: the column is the index (pgvector on the model's database)."""

        category = models.IntegerField()
        embedding = VectorField(dimensions=DIMENSION, provider="default")

        class Meta:
            app_label = "bench_app"
            db_table = "bench_search_doc"

    class OutboxDoc(VectorMixin, models.Model):
        """Synced to the memory store through the outbox: what ``sync_outbox.py`` loads."""

        title = models.CharField(max_length=100)
        category = models.IntegerField()
        embedding = VectorField(
            dimensions=DIMENSION,
            provider="bench_memory",
            index="bench_outbox",
            metadata_fields=["title", "category"],
        )

        class Meta:
            app_label = "bench_app"
            db_table = "bench_outbox_doc"

    class HybridBase(VectorMixin, models.Model):
        """Title and text with a vector and a keyword column (``text_search=True``): what
        ``hybrid.py`` searches three ways. Each child gets its own column and GIN index."""

        title = models.CharField(max_length=200)
        content = models.TextField()
        embedding = VectorField(
            dimensions=DIMENSION,
            provider="default",
            source=("title", "content"),
            text_search=True,
            text_config="english",
        )

        class Meta:
            abstract = True

    class HybridCorpusDoc(HybridBase):
        """The docstring corpus, once: the known-item quality task."""

        class Meta:
            app_label = "bench_app"
            db_table = "bench_hybrid_corpus"

    class HybridBulkDoc(HybridBase):
        """The corpus grown to 100K rows: the latency runs."""

        class Meta:
            app_label = "bench_app"
            db_table = "bench_hybrid_bulk"
