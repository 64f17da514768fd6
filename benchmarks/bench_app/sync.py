"""A sync strategy that records nothing, so a benchmark can time the write without sync and
then the store write it would have done (the path before the outbox) by hand."""

from __future__ import annotations

from typing import Any

from vectra_django.db.sync import BaseSyncProcessor


class NoSync(BaseSyncProcessor):
    def changed(self, using: str, labels: Any, pks: Any, op: str) -> None:
        return None
