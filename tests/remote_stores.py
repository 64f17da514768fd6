"""The stores the ORM tests run on, behind the ``"memory"`` alias the synced test models use.

``RemoteDocument``, ``UUIDDocument``, ``Product.text`` and ``ManualDocument`` sync to the
``VECTRA`` alias ``"memory"``; the ``remote_store`` fixture (``tests/conftest.py``) points that
alias at the memory provider, at Pinecone (the real SDK against a local fake server) and at
Qdrant (qdrant-client's in-process mode) in turn. The helpers read the store back through the
public client API only, so they say the same thing on every store.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from tests.fake_pinecone import FakePinecone
from vectra_django import Vector
from vectra_django.db.fields import VectorField

ALIAS = "memory"
STORES = ("memory", "pinecone", "qdrant")
PINECONE_API_KEY = "orm-suite-key"


def alias_config(store: str, pinecone: FakePinecone | None = None) -> dict[str, Any]:
    """The ``VECTRA`` entry that puts the synced test models on ``store``."""
    if store == "pinecone":
        assert pinecone is not None
        return {
            "PROVIDER": "pinecone",
            "API_KEY": PINECONE_API_KEY,
            "HOST": pinecone.url,
            "MAX_RETRIES": 0,
            "OPTIONS": {"poll_interval": 0.01, "ready_timeout": 5},
        }
    if store == "qdrant":
        return {"PROVIDER": "qdrant", "MAX_RETRIES": 0, "OPTIONS": {"location": ":memory:"}}
    return {"PROVIDER": "memory"}


def field(model: type[Model], name: str = "embedding") -> VectorField:
    vf = model._meta.get_field(name)
    assert isinstance(vf, VectorField)
    return vf


def stored(model: type[Model], name: str = "embedding") -> dict[str, Vector]:
    """id -> Vector of everything in the field's index and namespace."""
    vf = field(model, name)
    client = vf.client()
    if not client.index_exists(vf.index_name):
        return {}
    ids = list(client.list_ids(vf.index_name, namespace=vf.namespace))
    return client.fetch(vf.index_name, ids, namespace=vf.namespace) if ids else {}


def count(model: type[Model], name: str = "embedding") -> int:
    """How many vectors the field's index holds, over every namespace."""
    vf = field(model, name)
    client = vf.client()
    if not client.index_exists(vf.index_name):
        return 0
    return int(client.stats(vf.index_name)["total_vector_count"])
