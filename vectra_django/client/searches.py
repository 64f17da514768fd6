"""Keyword and hybrid search on the client: ``text_search`` and ``hybrid_search``.

Each store ranks words its own way (PostgreSQL full-text search, BM25, sparse vectors); the
hybrid search always fuses its vector leg and its text leg by Reciprocal Rank Fusion
(:mod:`.fusion`), where ``alpha`` weighs the vector leg and ``1 - alpha`` the text leg. A
store that cannot search text raises :class:`~vectra_django.errors.UnsupportedFeatureError`
naming what it lacks; it never answers with a vector-only search instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import UnsupportedFeatureError, ValidationError
from ..instrumentation import instrument
from . import filters, validation
from . import text as checks
from .distance import check_query_vector
from .requests import TextRequest
from .results import QueryResult

if TYPE_CHECKING:
    from .client import Client


class TextSearches:
    """The keyword half of :class:`~vectra_django.client.Client`."""

    def text_search(
        self: Client,
        index: str | None = None,
        text: Any = None,
        *,
        top_k: int = 10,
        namespace: str | None = None,
        filter: Any = None,
        include_values: bool = False,
        include_metadata: bool = True,
    ) -> QueryResult:
        """The ``top_k`` records whose ``text`` best matches ``text``, best first; each
        match's ``score`` is the store's keyword rank (higher is better)."""
        request = self._text_request(
            index, text, top_k, namespace, filter, include_values, include_metadata
        )
        return self._run_text("text_search", index, request)

    def hybrid_search(
        self: Client,
        index: str | None = None,
        text: Any = None,
        vector: Any = None,
        *,
        top_k: int = 10,
        alpha: float = 0.5,
        namespace: str | None = None,
        filter: Any = None,
        include_values: bool = False,
        include_metadata: bool = True,
        candidates: int | None = None,
        rrf_k: int = checks.RRF_K,
    ) -> QueryResult:
        """Nearest to ``vector`` and matching ``text``, fused by Reciprocal Rank Fusion.

        ``alpha`` weighs the legs: 1.0 is vector only, 0.0 text only. Each leg ranks
        ``candidates`` records (at least 20 and ``top_k``); each match has the fused
        ``score`` and each leg's ``vector_score`` / ``text_score``. The client does not
        embed: ``vector`` is needed unless ``alpha`` is 0.
        """
        weight = checks.alpha(alpha)
        if vector is None and weight > 0:
            raise ValidationError(
                "hybrid_search needs vector= (the query's embedding) unless alpha=0: the "
                "client does not embed text."
            )
        request = self._text_request(
            index,
            text,
            top_k,
            namespace,
            filter,
            include_values,
            include_metadata,
            vector=vector,
            alpha=weight,
            candidates=candidates,
            rrf_k=rrf_k,
        )
        return self._run_text("hybrid_search", index, request)

    def _text_request(
        self: Client,
        index: str | None,
        query: Any,
        top_k: int,
        namespace: str | None,
        filter: Any,
        include_values: bool,
        include_metadata: bool,
        vector: Any = None,
        **fusion: Any,
    ) -> TextRequest:
        index = self._index(index)
        limit = validation.top_k(top_k)
        if fusion:
            fusion["candidates"] = checks.candidates(fusion["candidates"], limit)
            fusion["rrf_k"] = checks.rrf_k(fusion["rrf_k"])
        values = None
        if vector is not None:
            values = validation.as_array(vector, expected_dimension=self._dimension(index))
            check_query_vector(self._description(index)["metric"], values)
        return TextRequest(
            text=checks.query_text(query),
            top_k=limit,
            namespace=self._namespace(namespace),
            filter=filters.parse(filter),
            include_values=bool(include_values),
            include_metadata=bool(include_metadata),
            vector=values,
            **fusion,
        )

    def _run_text(
        self: Client, operation: str, index: str | None, request: TextRequest
    ) -> QueryResult:
        index = self._index(index)
        method = getattr(self.provider, operation, None)
        if method is None:
            raise UnsupportedFeatureError(self.provider_name, operation)
        with instrument(
            operation,
            self.provider_name,
            index,
            request.namespace,
            metadata={"top_k": request.top_k},
        ) as details:
            result = self._call(method, index, request)
            details["result_count"] = len(result)
        return result
