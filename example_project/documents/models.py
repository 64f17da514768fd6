from django.db import models

from vectra_django import VectorField, VectorMixin
from vectra_django.indexes import HnswIndex, opclass

from .embedding import DIMENSIONS, document_embedder


def embedding_text(document: "Document") -> str:
    """What gets embedded: the qualified name counts twice, as the most specific words."""
    return f"{document.title}\n{document.title}\n{document.content}"


class Document(VectorMixin, models.Model):
    """A searchable text; its embedding is computed from the title and content on save,
    and only when they changed.

    ``text_search`` names the title and content explicitly: the embedding's ``source`` is a
    callable (the title counts twice there), which names no fields. PostgreSQL keeps the
    generated ``embedding_text_search`` column up to date on every write, so keyword search
    needs no embedder and never lags the row.
    """

    class Status(models.TextChoices):
        PUBLISHED = "published", "Published"
        DRAFT = "draft", "Draft"

    title = models.CharField(max_length=200, unique=True)
    content = models.TextField()
    category = models.CharField(max_length=50, db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PUBLISHED)
    source = models.CharField(max_length=100, blank=True, help_text="The module it documents.")
    embedding = VectorField(
        dimensions=DIMENSIONS,
        index="documents",
        metadata_fields=["title", "category", "status"],
        source=embedding_text,
        embedder=document_embedder,
        text_search=("title", "content"),
        text_config="english",
        null=True,
        blank=True,
        editable=False,
    )

    class Meta:
        ordering = ["title"]
        indexes = [
            HnswIndex(
                name="documents_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=[opclass("cosine")],
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def snippet(self) -> str:
        """The first paragraph, at most 300 characters."""
        first = self.content.strip().split("\n\n", 1)[0]
        return first if len(first) <= 300 else first[:297].rsplit(" ", 1)[0] + "…"
