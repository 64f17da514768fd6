"""Each index's dimension and metric, kept so that validating a write costs no round trip."""

from __future__ import annotations

import threading
from typing import Any


class IndexCache:
    """Dimension and metric per index, shared by a client and its bound copies."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._data.get(name)

    def put(self, name: str, description: dict[str, Any]) -> None:
        with self._lock:
            self._data[name] = description

    def forget(self, name: str) -> None:
        with self._lock:
            self._data.pop(name, None)
