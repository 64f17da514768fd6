"""The ``app_label[.ModelName]`` arguments the commands take, resolved to models."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import CommandError
from django.db.models import Model


def add_model_arguments(parser: Any, help: str) -> None:
    parser.add_argument("args", nargs="*", metavar="app_label[.ModelName]", help=help)


def models_named(label: str) -> list[type[Model]]:
    """The model ``app.Model``, or every model of the app ``app``; a ``CommandError`` that
    names the label when there is no such app or model."""
    try:
        if "." in label:
            return [apps.get_model(label)]
        return list(apps.get_app_config(label).get_models())
    except (LookupError, ValueError) as exc:
        raise CommandError(
            f"Unknown model or app {label!r}. Use app_label.ModelName or app_label."
        ) from exc
