"""The Django admin for models with a ``VectorField``: ``VectorSearchAdmin``.

Its changelist search ranks rows by ``hybrid_search``, ``vector_search`` or ``text_search``
and shows their scores (:mod:`.changelist`), its change page lists similar rows, and two
actions re-embed rows and push their vectors to the store again (:mod:`.actions`).

Django imports this package when it autodiscovers the ``admin`` modules of installed apps,
so it only defines classes: nothing is registered.
"""

from __future__ import annotations

from .actions import reembed_selected, resync_selected
from .changelist import VectorSearchChangeList
from .options import VectorSearchAdmin

__all__ = ["VectorSearchAdmin", "VectorSearchChangeList", "reembed_selected", "resync_selected"]
