from __future__ import annotations

from django.apps import AppConfig


class VectraConfig(AppConfig):
    name = "vectra_django"
    verbose_name = "Vectra"
    default_auto_field = "django.db.models.BigAutoField"
