"""``manage.py vectra_status``: one screen per vector field (where it is searched, its index
and whether searches use it, rows and vectors, drift, outbox, embedder, builds running), or
one JSON document; exits 1 when something needs action."""

from __future__ import annotations

import json
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model

from ...db.fields import VectorField, vector_fields
from ...db.status import FieldStatus, field_status
from ...db.status.screen import render
from ..selection import models_named


def _vector_models(label: str) -> list[type[Model]]:
    found = [m for m in models_named(label) if vector_fields(m) and not m._meta.proxy]
    if not found:
        raise CommandError(f"{label!r} has no model with a VectorField.")
    return found


def _named(label: str) -> list[VectorField]:
    """The fields ``app``, ``app.Model`` or ``app.Model.field`` names."""
    if label.count(".") != 2:
        return [vf for model in _vector_models(label) for vf in vector_fields(model)]
    model_label, name = label.rsplit(".", 1)
    model = _vector_models(model_label)[0]
    fields = vector_fields(model)
    chosen = [vf for vf in fields if name in (vf.name, vf.attname)]
    if not chosen:
        known = ", ".join(vf.name for vf in fields)
        raise CommandError(
            f"{model._meta.label} has no vector field {name!r}; its vector fields: {known}."
        )
    return chosen


def selected_fields(labels: tuple[str, ...]) -> list[VectorField]:
    """Each field once: a multi-table child's inherited field is its parent's."""
    if labels:
        candidates = [vf for label in labels for vf in _named(label)]
    else:
        models = [m for m in apps.get_models() if not m._meta.proxy]
        candidates = [vf for model in models for vf in vector_fields(model)]
    found: dict[tuple[type[Model], str], VectorField] = {}
    for vf in candidates:
        found.setdefault((vf.model, vf.name), vf)
    return list(found.values())


class Command(BaseCommand):
    help = (
        "Show each vector field's state: provider, index and search plan, rows and vectors, "
        "drift and sync backlog, embedder, index builds running. Exits 1 when something "
        "needs action."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "args",
            nargs="*",
            metavar="app_label[.ModelName[.field]]",
            help="The fields to show (default: every vector field).",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON document (a list of fields)."
        )
        parser.add_argument(
            "--no-drift",
            action="store_false",
            dest="drift",
            help="Skip comparing synced tables with their stores (it reads every row).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Rows compared with the store per batch (default 500).",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help='Database to read the rows from (default "default").',
        )

    def handle(self, *labels: str, **options: Any) -> None:
        using = options["database"]
        if using not in connections:
            raise CommandError(f"Unknown database {using!r}; configured: {sorted(connections)}.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be a positive integer.")
        fields = selected_fields(labels)
        reports = [
            field_status(vf, using, options["drift"], options["batch_size"]) for vf in fields
        ]
        if options["json"]:
            self.stdout.write(json.dumps([r.as_dict() for r in reports], indent=2))
        else:
            self.show(reports)
        failing = [r.field for r in reports if r.needs_action]
        if failing:
            verb = "needs" if len(failing) == 1 else "need"
            raise CommandError(
                f"{len(failing)} of {len(reports)} vector fields {verb} action: "
                f"{', '.join(failing)}.",
                returncode=1,
            )

    def show(self, reports: list[FieldStatus]) -> None:
        if not reports:
            self.stdout.write("No vector fields.")
        for i, report in enumerate(reports):
            if i:
                self.stdout.write("")
            for line in render(report, self.style):
                self.stdout.write(line)
