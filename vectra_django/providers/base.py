"""The boundary between the client and a vector store.

The :class:`~vectra_django.client.Client` is the only caller. It validates every argument,
parses filters, applies retries and instrumentation, and chunks batches before calling in;
a provider receives clean, typed input and must:

- treat ``namespace`` ``""`` as the default namespace and never let namespaces mix;
- make every write idempotent (an upsert of the same id replaces it), so a retried call
  never duplicates or loses a vector;
- report ``Match.score`` higher-is-better per :mod:`vectra_django.client.distance`, and set
  ``Match.values`` / ``Match.metadata`` only when asked;
- raise only :mod:`vectra_django.errors` types (map the driver's or SDK's own);
- raise :class:`~vectra_django.errors.UnsupportedFeatureError` for what it cannot do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np

from ..client.distance import Metric
from ..client.filters import Node
from ..client.fusion import rrf
from ..client.redaction import redact
from ..client.requests import IdPage, QueryRequest, TextRequest
from ..client.results import QueryResult, Vector
from ..client.validation import Batch
from ..errors import UnsupportedFeatureError, VectraError


@runtime_checkable
class Provider(Protocol):
    """What every store implements; one method per client operation."""

    name: ClassVar[str]
    # Whether text_search and hybrid_search rank the records' text (else they refuse).
    searches_text: ClassVar[bool]

    def create_index(
        self, name: str, dimension: int, metric: Metric, options: Mapping[str, Any]
    ) -> None:
        """Create an index; :class:`ValidationError` if it exists with another shape."""

    def delete_index(self, name: str) -> None:
        """Drop an index and everything in it; :class:`NotFoundError` if missing."""

    def list_indexes(self) -> list[str]: ...

    def describe_index(self, name: str) -> dict[str, Any]:
        """At least ``name``, ``dimension`` and ``metric``; :class:`NotFoundError` if missing."""

    def stats(self, name: str) -> dict[str, Any]:
        """``total_vector_count``, ``dimension`` and ``namespaces: {ns: {vector_count}}``."""

    def list_namespaces(self, name: str) -> list[str]: ...

    def upsert(self, index: str, batch: Batch, namespace: str) -> int:
        """Insert or replace every vector of ``batch``; returns how many were written."""

    def query(self, index: str, request: QueryRequest) -> QueryResult: ...

    def fetch(self, index: str, ids: list[str], namespace: str) -> dict[str, Vector]:
        """The stored vectors among ``ids``; missing ids are simply absent."""

    def update(
        self,
        index: str,
        id: str,
        namespace: str,
        values: np.ndarray | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Replace values and/or merge metadata keys; :class:`NotFoundError` if ``id`` is absent."""

    def delete(
        self,
        index: str,
        namespace: str,
        ids: list[str] | None = None,
        filter: Node | None = None,
        delete_all: bool = False,
    ) -> int | None:
        """Delete by exactly one selector; returns the count when the store knows it."""

    def healthy(self) -> bool: ...

    def close(self) -> None: ...


class BaseProvider:
    """Shared conveniences for providers: context management and refusing a feature."""

    name: ClassVar[str] = "base"
    searches_text: ClassVar[bool] = True

    def healthy(self) -> bool:
        try:
            self.list_indexes()  # type: ignore[attr-defined]
        except Exception:
            return False
        return True

    def list_namespaces(self, name: str) -> list[str]:
        """The namespaces that hold vectors, from :meth:`stats`."""
        return sorted(self.stats(name)["namespaces"])  # type: ignore[attr-defined]

    def close(self) -> None:
        """Release connections; the default holds none."""

    def list_ids(
        self,
        index: str,
        namespace: str,
        prefix: str = "",
        limit: int = 1000,
        cursor: str | None = None,
    ) -> IdPage:
        """Optional: up to ``limit`` ids of ``namespace`` starting with ``prefix``.

        ``cursor`` is the ``next_cursor`` of the previous page. Cursors point past the ids
        already returned, so deleting those while paging skips nothing: that is how
        ``vectra_reindex --remove`` walks an index. Not part of :class:`Provider`; a store
        that cannot list ids keeps this refusal.
        """
        raise self.unsupported("listing ids")

    def text_search(self, index: str, request: TextRequest) -> QueryResult:
        """Optional: the records whose ``text`` best matches ``request.text``, best first
        (``request.candidates`` of them when set, else ``top_k``). Not part of
        :class:`Provider`; a store without keyword search keeps this refusal."""
        raise self.unsupported("text_search (keyword search over the records' text)")

    def hybrid_search(self, index: str, request: TextRequest) -> QueryResult:
        """Optional: a vector leg and a text leg fused by RRF (see :func:`fused_search`)."""
        raise self.unsupported("hybrid_search (keyword search over the records' text)")

    def validate_batch(self, batch: Batch) -> None:
        """Store-specific checks on a whole upsert batch; the default has none.

        The client calls this once before it splits a batch into ``upsert`` calls, so a
        vector the store would reject in the last chunk stops the batch before the first
        chunk is written. Raise :class:`~vectra_django.errors.ValidationError` naming the id.
        """

    @property
    def concurrent_writes(self) -> bool:
        """Whether writes may come from several threads at once (bulk loads use that)."""
        return True

    @classmethod
    def default_index_name(cls, name: str) -> str:
        """The index a model field uses when it names none, from ``<db_table>_<field>``.

        Stores with stricter naming rules than the client's turn ``name`` into one they
        accept; explicit names are never rewritten.
        """
        return name

    def unsupported(self, feature: str) -> UnsupportedFeatureError:
        return UnsupportedFeatureError(self.name, feature)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def stats_result(counts: Mapping[str, int], dimension: int, **extra: Any) -> dict[str, Any]:
    """The ``stats()`` shape every provider returns, from a count per namespace."""
    namespaces = {ns: {"vector_count": int(n)} for ns, n in counts.items() if n}
    return {
        "total_vector_count": sum(n["vector_count"] for n in namespaces.values()),
        "dimension": int(dimension),
        **extra,
        "namespaces": namespaces,
    }


@contextmanager
def translating_errors(
    translate: Callable[[Exception], VectraError | None], secret: str | None = None
) -> Iterator[None]:
    """Re-raise what ``translate`` maps as our error (secret masked); let the rest through."""
    try:
        yield
    except VectraError:
        raise
    except Exception as exc:
        mapped = translate(exc)
        if mapped is None:
            raise
        mapped.args = (redact(str(mapped), secret),)
        raise mapped from exc


def fused_search(provider: Any, index: str, request: TextRequest) -> QueryResult:
    """A hybrid search from the provider's own ``query`` and ``text_search``, each ranking
    ``request.candidates`` records, fused by :func:`~vectra_django.client.fusion.rrf` (a
    leg of weight 0 is not run)."""
    legs: list[QueryResult] = []
    if request.vector_weight > 0:
        assert request.vector is not None  # the client requires it when alpha > 0
        vector_request = QueryRequest(
            vector=request.vector,
            top_k=request.candidates or request.top_k,
            namespace=request.namespace,
            filter=request.filter,
            include_values=request.include_values,
            include_metadata=request.include_metadata,
        )
        legs.append(provider.query(index, vector_request))
    else:
        legs.append(QueryResult([]))
    legs.append(
        provider.text_search(index, request) if request.text_weight > 0 else QueryResult([])
    )
    matches = rrf(
        legs[0],
        legs[1],
        vector_weight=request.vector_weight,
        text_weight=request.text_weight,
        k=request.rrf_k,
        top_k=request.top_k,
    )
    return QueryResult(matches, index=index, namespace=request.namespace)
