from __future__ import annotations

from django.apps import AppConfig


class VectraConfig(AppConfig):
    name = "vectra_django"
    verbose_name = "Vectra"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from . import checks  # noqa: F401 - registers the system checks
        from .db import embeddings  # noqa: F401 - registers its system check
        from .db.search import session
        from .db.sync import SettingsSync

        # Every PostgreSQL connection applies in-place searches' settings to their SQL,
        # whichever path (values(), count(), a subquery...) runs it.
        connection_created.connect(session.on_connection_created, dispatch_uid="vectra_search")

        # Kept on the app config: signal receivers are weak references to it.
        self.sync_processor = SettingsSync()
        self.sync_processor.setup()
