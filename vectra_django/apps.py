from __future__ import annotations

from django.apps import AppConfig


class VectraConfig(AppConfig):
    name = "vectra_django"
    verbose_name = "Vectra"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .db.sync import SettingsSync

        # Kept on the app config: signal receivers are weak references to it.
        self.sync_processor = SettingsSync()
        self.sync_processor.setup()
