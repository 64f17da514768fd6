from django.contrib import admin

from .models import Document


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "category", "status", "source"]
    list_filter = ["status", "category"]
    search_fields = ["title"]
    readonly_fields = ["has_embedding"]

    @admin.display(boolean=True, description="Embedded")
    def has_embedding(self, obj: Document) -> bool:
        return obj.embedding is not None
