"""Contract-suite factories for the pgvector provider, in both connection modes.

``pgvector-url`` connects through its own pool to the test database; ``pgvector-django``
uses Django's connection inside the per-test transaction that pytest-django rolls back.
"""

from __future__ import annotations

from typing import Any

import pytest

from vectra_django import Client


def url_for_test_database(request: pytest.FixtureRequest) -> str:
    """A URL for the test database (created by pytest-django) from Django's settings."""
    request.getfixturevalue("django_db_setup")
    from django.db import connection

    settings: dict[str, Any] = connection.settings_dict
    from psycopg.conninfo import make_conninfo

    return make_conninfo(
        dbname=settings["NAME"],
        user=settings.get("USER") or None,
        password=settings.get("PASSWORD") or None,
        host=settings.get("HOST") or None,
        port=str(settings["PORT"]) if settings.get("PORT") else None,
    )


def url_client(request: pytest.FixtureRequest) -> Client:
    return Client(
        provider="pgvector", url=url_for_test_database(request), pool_size=2, max_retries=0
    )


def django_client(request: pytest.FixtureRequest) -> Client:
    request.getfixturevalue("db")
    return Client(provider="pgvector", database="default", max_retries=0)


EXTRA_PROVIDERS = {"pgvector-url": url_client, "pgvector-django": django_client}
