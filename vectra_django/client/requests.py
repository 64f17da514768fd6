"""What the client hands a provider: a validated query, and what it gets back a page at a time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ValidationError
from . import filters, validation
from .filters import Node


@dataclass(frozen=True, slots=True)
class QueryRequest:
    """A validated similarity query."""

    vector: np.ndarray
    top_k: int
    namespace: str = ""
    filter: Node | None = None
    include_values: bool = False
    include_metadata: bool = True
    score_threshold: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TextRequest:
    """A validated keyword search, or a hybrid one when ``candidates`` is set.

    ``alpha`` weighs the vector leg and ``1 - alpha`` the text leg; ``vector`` is ``None``
    when ``alpha`` is 0. Each leg ranks ``candidates`` records, fused with ``rrf_k``.
    """

    text: str
    top_k: int
    namespace: str = ""
    filter: Node | None = None
    include_values: bool = False
    include_metadata: bool = True
    vector: np.ndarray | None = None
    alpha: float = 0.0
    candidates: int | None = None
    rrf_k: int = 60

    @property
    def vector_weight(self) -> float:
        return self.alpha

    @property
    def text_weight(self) -> float:
        return 1.0 - self.alpha


@dataclass(frozen=True, slots=True)
class IdPage:
    """One page of ids and the opaque cursor of the next page (``None`` after the last)."""

    ids: list[str]
    next_cursor: str | None = None

    @classmethod
    def after_last(cls, ids: list[str], limit: int) -> IdPage:
        """A page from up to ``limit + 1`` sorted ids: one more than ``limit`` means there is
        a next page, whose cursor is the last id returned (so pages survive deletes)."""
        if len(ids) > limit:
            return cls(ids[:limit], ids[limit - 1])
        return cls(ids)


def delete_selector(
    ids: Any, filter: Any, delete_all: bool
) -> tuple[list[str] | None, Node | None]:
    """``delete``'s one selector, checked: the ids, or the parsed filter (``delete_all`` has
    neither)."""
    if sum([ids is not None, filter is not None, bool(delete_all)]) != 1:
        raise ValidationError("delete needs exactly one of ids=, filter= or delete_all=True.")
    id_list = None if ids is None else validation.vector_ids(ids, allow_duplicates=True)
    node = None
    if filter is not None:
        node = filters.parse(filter)
        if node is None:
            raise ValidationError("delete with an empty filter; use delete_all=True.")
    return id_list, node
