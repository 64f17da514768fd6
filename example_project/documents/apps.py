from django.apps import AppConfig
from django.conf import settings


class DocumentsConfig(AppConfig):
    name = "example_project.documents"
    label = "documents"
    verbose_name = "Documents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from vectra_django.embedders import track_source

        from . import events
        from .models import Document

        # Fingerprint each loaded document's text, so saving it unchanged never re-embeds.
        track_source(Document, "embedding_text", "embedding")
        if getattr(settings, "VECTRA_INSTRUMENTATION", False):
            events.connect()
