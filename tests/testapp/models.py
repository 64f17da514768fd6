"""Models used by the ORM integration tests."""

import uuid

from django.db import models

from vectra_django import VectorField, VectorMixin
from vectra_django.indexes import HnswIndex, binary_quantized_index, opclass

from .embedders import DIMENSIONS, counting


class Document(VectorMixin, models.Model):
    """Searched in place: pgvector on the default database."""

    title = models.CharField(max_length=200)
    category = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=20, default="draft")
    year = models.IntegerField(null=True, blank=True)
    rating = models.FloatField(null=True, blank=True)
    pinned = models.BooleanField(default=False)
    embedding = VectorField(
        dimensions=3, null=True, blank=True, metadata_fields=["title", "category", "status"]
    )

    class Meta:
        indexes = [
            HnswIndex(
                name="document_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            )
        ]


class RemoteDocument(VectorMixin, models.Model):
    """Synced to the memory provider."""

    title = models.CharField(max_length=200)
    category = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=20, default="draft")
    year = models.IntegerField(null=True, blank=True)
    embedding = VectorField(
        dimensions=3,
        null=True,
        blank=True,
        provider="memory",
        index="remote-docs",
        metadata_fields=["category", "status", "year"],
    )


class CountedDocument(VectorMixin, models.Model):
    """Synced to a provider that counts its calls."""

    title = models.CharField(max_length=200)
    embedding = VectorField(dimensions=3, null=True, provider="counting", index="counted")


class UUIDDocument(VectorMixin, models.Model):
    """A UUID primary key, synced to memory with the euclidean metric."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200)
    embedding = VectorField(dimensions=2, null=True, provider="memory", metric="euclidean")


class Product(VectorMixin, models.Model):
    """Two vector fields: one in place (dot product), one synced with a namespace."""

    name = models.CharField(max_length=100)
    image = VectorField(dimensions=2, null=True, metric="dotproduct")
    text = VectorField(
        dimensions=4, null=True, provider="memory", namespace="products", metric="euclidean"
    )


class ManualDocument(VectorMixin, models.Model):
    """auto_index=False: nothing is synced unless asked."""

    title = models.CharField(max_length=200)
    embedding = VectorField(dimensions=3, null=True, provider="memory", auto_index=False)


def article_text(article: "RemoteArticle") -> str:
    """A computed source: the title, then the body."""
    return f"{article.title}: {article.body}" if article.body else article.title


class Article(VectorMixin, models.Model):
    """Embedded from two fields on save, searched in place; the embedder is a dotted path."""

    title = models.CharField(max_length=200)
    body = models.TextField(null=True, blank=True)
    status = models.CharField(max_length=20, default="draft")
    embedding = VectorField(
        dimensions=DIMENSIONS,
        null=True,
        source=("title", "body"),
        embedder="tests.testapp.embedders.counting",
    )


class ArticleProxy(Article):
    """A proxy: its instances are tracked under their own class."""

    class Meta:
        proxy = True


class FeaturedArticle(Article):
    """A multi-table child: the parent's computed vector works on it too."""

    rank = models.IntegerField(default=0)


class RemoteArticle(VectorMixin, models.Model):
    """Embedded from a callable source and synced to memory with a metadata field."""

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=20, default="draft")
    embedding = VectorField(
        dimensions=DIMENSIONS,
        null=True,
        provider="memory",
        index="remote-articles",
        metadata_fields=["status"],
        source=article_text,
        embedder=counting,
    )


class RequiredVectorDocument(VectorMixin, models.Model):
    """A NOT NULL vector column, searched in place."""

    title = models.CharField(max_length=200)
    embedding = VectorField(dimensions=3)


class KeyedDocument(VectorMixin, models.Model):
    """A UUID primary key, searched in place."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200)
    embedding = VectorField(dimensions=3)


class Place(VectorMixin, models.Model):
    """A synced multi-table parent."""

    name = models.CharField(max_length=100)
    embedding = VectorField(
        dimensions=3, null=True, provider="memory", index="places", metadata_fields=["name"]
    )


class Restaurant(Place):
    """A multi-table child: its vector is the parent's field, stored under the parent's ids."""

    stars = models.IntegerField(default=0)


class Note(VectorMixin, models.Model):
    """Shares the "notes" index with ``NoteDraft``, whose db_table extends this one's."""

    text = models.CharField(max_length=100)
    embedding = VectorField(dimensions=3, null=True, provider="memory", index="notes")

    class Meta:
        db_table = "testapp_note"


class NoteDraft(VectorMixin, models.Model):
    """db_table ``testapp_note_2``: its ids (``testapp_note_2_5``) start with Note's prefix."""

    text = models.CharField(max_length=100)
    embedding = VectorField(dimensions=3, null=True, provider="memory", index="notes")

    class Meta:
        db_table = "testapp_note_2"


class Author(models.Model):
    """A plain model that synced posts point at."""

    name = models.CharField(max_length=100)


class Post(VectorMixin, models.Model):
    """A foreign key (SET_NULL) and a unique slug among the synced metadata."""

    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, null=True, blank=True, on_delete=models.SET_NULL)
    embedding = VectorField(
        dimensions=3,
        null=True,
        provider="memory",
        index="posts",
        metadata_fields=["title", "author"],
    )


class LargeDocument(VectorMixin, models.Model):
    """3,072 dimensions (text-embedding-3-large), stored and indexed as halfvec."""

    title = models.CharField(max_length=200)
    embedding = VectorField(dimensions=3072, null=True, precision="half")

    class Meta:
        indexes = [
            HnswIndex(
                name="large_embedding_hnsw",
                fields=["embedding"],
                opclasses=[opclass("cosine", precision="half")],
            )
        ]


class QuantizedDocument(VectorMixin, models.Model):
    """Searched through an HNSW index over the vectors' sign bits, re-ranked exactly."""

    title = models.CharField(max_length=200)
    category = models.CharField(max_length=50, blank=True)
    embedding = VectorField(dimensions=64, null=True, quantization="binary")

    class Meta:
        indexes = [binary_quantized_index("embedding", 64, name="quantized_embedding_bq")]


class HalfRemoteDocument(VectorMixin, models.Model):
    """A halfvec column synced to the memory store."""

    title = models.CharField(max_length=200)
    embedding = VectorField(
        dimensions=4, null=True, precision="half", provider="memory", index="half-docs"
    )


class Entry(VectorMixin, models.Model):
    """Keyword and hybrid search in place: a tsvector column of title and body, a GIN index."""

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    category = models.CharField(max_length=50, default="")
    embedding = VectorField(
        dimensions=DIMENSIONS,
        null=True,
        source=("title", "body"),
        embedder="tests.testapp.embedders.counting",
        text_search=True,
    )

    class Meta:
        indexes = [
            HnswIndex(
                name="entry_embedding_hnsw", fields=["embedding"], opclasses=[opclass("cosine")]
            )
        ]


class RemoteEntry(VectorMixin, models.Model):
    """The same searches through a store's index: records carry the title and body."""

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    category = models.CharField(max_length=50, default="")
    embedding = VectorField(
        dimensions=DIMENSIONS,
        null=True,
        provider="memory",
        index="remote-entries",
        metadata_fields=["category"],
        source=("title", "body"),
        embedder=counting,
        text_search=("title", "body"),
        text_config="simple",
    )


if hasattr(models, "DB_SET_NULL"):  # Django 6.1+: foreign keys the database itself resolves

    class Review(VectorMixin, models.Model):
        """Synced rows whose foreign keys the database nulls or cascades, without signals."""

        author = models.ForeignKey(
            Author, null=True, on_delete=models.DB_SET_NULL, related_name="reviews"
        )
        owner = models.ForeignKey(
            Author, null=True, on_delete=models.DB_CASCADE, related_name="owned_reviews"
        )
        embedding = VectorField(
            dimensions=3, null=True, provider="memory", index="reviews", metadata_fields=["author"]
        )
