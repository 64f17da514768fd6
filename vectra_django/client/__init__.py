"""The provider-agnostic client: ``Client``, the ``clients`` registry and what they return.

This side never imports the Django ORM side (:mod:`vectra_django.db`): a script, a worker or
a notebook can use the client without models or the app registry.
"""

from __future__ import annotations

from .client import Client
from .registry import clients
from .results import Match, QueryResult, Vector

__all__ = ["Client", "Match", "QueryResult", "Vector", "clients"]
