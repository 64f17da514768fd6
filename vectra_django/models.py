"""The sync outbox: what each synced write still has to change in a store.

An entry is written in the same transaction as the row it names, so it exists exactly when
the write does; draining it reads the row's current state (see :mod:`.db.sync.drain`).
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now


class SyncEntry(models.Model):
    """One row whose vectors must be brought up to date (``op`` is what the write was)."""

    model = models.CharField(max_length=200, help_text="Label of the model declaring the field.")
    object_pk = models.TextField(help_text="The row's primary key, as text.")
    op = models.CharField(max_length=6, help_text='"upsert" or "delete", when written.')
    created_at = models.DateTimeField(db_default=Now())
    available_at = models.DateTimeField(db_default=Now(), help_text="Not drained before this.")
    attempts = models.PositiveIntegerField(db_default=0)
    last_error = models.TextField(db_default="", blank=True)
    parked = models.BooleanField(
        db_default=False, help_text="Failed too often; waits for vectra_sync --retry-parked."
    )

    class Meta:
        db_table = "vectra_sync_outbox"
        verbose_name = "sync outbox entry"
        verbose_name_plural = "sync outbox entries"
        indexes = [models.Index(fields=["parked", "available_at"], name="vectra_outbox_due")]

    def __str__(self) -> str:
        return f"{self.op} {self.model} {self.object_pk}"


class EmbeddingRecord(models.Model):
    """Which embedder made a vector field's stored vectors, and a re-embed under way.

    Written when a field first embeds on a database and by ``vectra_reembed``; a system
    check compares it with the configured embedder, so a changed model is reported
    before its vectors are mixed with the old ones.
    """

    model = models.CharField(max_length=200, help_text="Label of the model declaring the field.")
    field = models.CharField(max_length=200)
    embedder = models.CharField(max_length=500, help_text="The embedder's identity.")
    dimension = models.PositiveIntegerField()
    updated_at = models.DateTimeField(db_default=Now())
    target = models.CharField(
        max_length=500, blank=True, db_default="", help_text="A re-embed's new embedder."
    )
    cursor = models.TextField(
        blank=True, db_default="", help_text="The last primary key the re-embed finished."
    )

    class Meta:
        db_table = "vectra_embeddings"
        constraints = [
            models.UniqueConstraint(fields=["model", "field"], name="vectra_embedding_field")
        ]

    def __str__(self) -> str:
        return f"{self.model}.{self.field}: {self.embedder}"
