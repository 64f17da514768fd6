from django.apps import AppConfig
from django.conf import settings


class DocumentsConfig(AppConfig):
    name = "example_project.documents"
    label = "documents"
    verbose_name = "Documents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import events

        if getattr(settings, "VECTRA_INSTRUMENTATION", False):
            events.connect()
