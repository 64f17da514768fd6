from django.contrib import admin

from vectra_django.admin import VectorSearchAdmin

from .models import Document


@admin.register(Document)
class DocumentAdmin(VectorSearchAdmin, admin.ModelAdmin):
    """The search box ranks documents by hybrid search (the embedding has ``text_search``);
    the change page lists the most similar documents."""

    list_display = ["title", "category", "status", "source", "vector_search_score"]
    list_filter = ["status", "category"]
    search_fields = ["title"]  # the fallback search, should the embedder be unavailable
    readonly_fields = ["has_embedding"]

    @admin.display(boolean=True, description="Embedded")
    def has_embedding(self, obj: Document) -> bool:
        return obj.embedding is not None
