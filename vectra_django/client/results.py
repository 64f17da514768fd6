"""The values the client returns: ``Vector``, ``Match`` and ``QueryResult``.

They know nothing of Django or of any store, so every provider returns the same shapes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload


@dataclass(frozen=True, slots=True)
class Vector:
    """A stored vector: its id, values, metadata, namespace and the ``text`` it was upserted
    with for keyword search (``None`` when it has none)."""

    id: str
    values: list[float]
    metadata: dict[str, Any] = field(default_factory=dict)
    namespace: str = ""
    text: str | None = None

    @property
    def dimension(self) -> int:
        """How many values the vector has."""
        return len(self.values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (plain lists and dicts)."""
        return {
            "id": self.id,
            "values": list(self.values),
            "metadata": dict(self.metadata),
            "namespace": self.namespace,
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class Match:
    """One query hit. ``score`` is higher-is-better on every metric; ``distance`` is raw.

    ``values`` and ``metadata`` are ``None`` unless the query asked for them. A text search's
    ``score`` is the store's keyword rank; a hybrid search's is the fused (RRF) score, and
    ``vector_score`` / ``text_score`` are each leg's own (``None`` where a leg missed it).
    """

    id: str
    score: float
    distance: float | None = None
    values: list[float] | None = None
    metadata: dict[str, Any] | None = None
    vector_score: float | None = None
    text_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy; unrequested ``values``/``metadata`` stay ``None``."""
        return {
            "id": self.id,
            "score": self.score,
            "distance": self.distance,
            "values": None if self.values is None else list(self.values),
            "metadata": None if self.metadata is None else dict(self.metadata),
            "vector_score": self.vector_score,
            "text_score": self.text_score,
        }


class QueryResult(Sequence[Match]):
    """The matches of one query, best first. Indexable, sliceable and iterable."""

    __slots__ = ("_matches", "index", "namespace")

    def __init__(
        self, matches: Sequence[Match], *, index: str | None = None, namespace: str = ""
    ) -> None:
        self._matches: tuple[Match, ...] = tuple(matches)
        self.index = index
        self.namespace = namespace

    @overload
    def __getitem__(self, i: int) -> Match: ...
    @overload
    def __getitem__(self, i: slice) -> QueryResult: ...
    def __getitem__(self, i: int | slice) -> Match | QueryResult:
        if isinstance(i, slice):
            return QueryResult(self._matches[i], index=self.index, namespace=self.namespace)
        return self._matches[i]

    def __len__(self) -> int:
        return len(self._matches)

    def __iter__(self) -> Iterator[Match]:
        return iter(self._matches)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, QueryResult):
            return self._matches == other._matches
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<QueryResult index={self.index!r} matches={len(self)}>"

    @property
    def ids(self) -> list[str]:
        """The matches' ids, best first."""
        return [m.id for m in self._matches]

    @property
    def scores(self) -> list[float]:
        """The matches' scores, best (highest) first."""
        return [m.score for m in self._matches]

    @property
    def first(self) -> Match | None:
        """The best match, or ``None`` when there is none."""
        return self._matches[0] if self._matches else None

    @property
    def empty(self) -> bool:
        """Whether nothing matched."""
        return not self._matches

    def above_score(self, threshold: float) -> QueryResult:
        """The matches whose score is at least ``threshold``."""
        return QueryResult(
            [m for m in self._matches if m.score >= threshold],
            index=self.index,
            namespace=self.namespace,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy: index, namespace and each match's ``to_dict()``."""
        return {
            "index": self.index,
            "namespace": self.namespace,
            "matches": [m.to_dict() for m in self._matches],
        }
