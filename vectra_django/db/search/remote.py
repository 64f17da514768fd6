"""Search through a provider index (any store but pgvector on the model's own database).

The store is queried when the search is called; the returned queryset loads those rows in
one query, in rank order, without ids whose rows are gone. When the queryset itself is
filtered, the store is asked for 3x and then 10x ``limit`` candidates until ``limit`` rows
pass the filters (so fewer than ``limit`` rows come back only when the store has no more).
Vector, keyword and hybrid searches differ only in the store call and the scores they
annotate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from django.db.models import Case, FloatField, IntegerField, Value, When

from ...client import filters, validation
from ...client.results import Match, QueryResult
from ...errors import NotFoundError, ValidationError
from ...instrumentation import instrument
from ..fields import VectorField, pk_from_vector_id

if TYPE_CHECKING:
    from ..queryset import VectorQuerySet

OVERFETCH = (3, 10)
Search = Callable[[int], QueryResult]


def remote_search(
    queryset: VectorQuerySet,
    vf: VectorField,
    values: list[float],
    limit: int,
    node: Any,
    threshold: float | None,
    namespace: str | None,
    load_records: bool,
    exclude: Any,
) -> VectorQuerySet | QueryResult:
    ns = _checked(vf, node, namespace)

    def search(top_k: int) -> QueryResult:
        return vf.client().query(
            vf.index_name,
            values,
            top_k=top_k,
            filter=node,
            namespace=ns,
            score_threshold=threshold,
            include_metadata=False,
        )

    scores = {"vector_score": _score, "vector_distance": _distance}
    return _hydrated(queryset, vf, "search", ns, limit, load_records, exclude, search, scores)


def remote_text_search(
    queryset: VectorQuerySet,
    vf: VectorField,
    text: str,
    limit: int,
    node: Any,
    namespace: str | None,
    load_records: bool,
) -> VectorQuerySet | QueryResult:
    ns = _checked(vf, node, namespace)

    def search(top_k: int) -> QueryResult:
        return vf.client().text_search(
            vf.index_name, text, top_k=top_k, filter=node, namespace=ns, include_metadata=False
        )

    scores = {"text_score": _score}
    return _hydrated(queryset, vf, "text_search", ns, limit, load_records, None, search, scores)


def remote_hybrid_search(
    queryset: VectorQuerySet,
    vf: VectorField,
    text: str,
    values: list[float] | None,
    limit: int,
    node: Any,
    namespace: str | None,
    load_records: bool,
    weights: tuple[float, float],
    rrf_k: int,
    candidates: int,
) -> VectorQuerySet | QueryResult:
    """The store's hybrid search with ``alpha`` = the vector weight's share; its fused
    score is scaled back by the weights' sum, so ``hybrid_score`` means what it means in
    place (the sum of ``weight / (rrf_k + rank)``)."""
    ns = _checked(vf, node, namespace)
    total = weights[0] + weights[1]

    def search(top_k: int) -> QueryResult:
        return vf.client().hybrid_search(
            vf.index_name,
            text,
            values,
            top_k=top_k,
            alpha=weights[0] / total,
            filter=node,
            namespace=ns,
            include_metadata=False,
            candidates=max(candidates, top_k),
            rrf_k=rrf_k,
        )

    scores = {
        "hybrid_score": lambda m: m.score * total,
        "vector_score": lambda m: m.vector_score,
        "vector_distance": _distance,
        "text_score": lambda m: m.text_score,
    }
    return _hydrated(queryset, vf, "hybrid_search", ns, limit, load_records, None, search, scores)


def _checked(vf: VectorField, node: Any, namespace: str | None) -> str | None:
    """The namespace to search, after refusing filter keys the store does not hold."""
    unknown = sorted(filters.keys(node) - set(vf.metadata_fields))
    if unknown:
        raise ValidationError(
            f"Filter key {unknown[0]!r} is not a metadata field of "
            f"{vf.model._meta.label}.{vf.name}; declared: {list(vf.metadata_fields)}."
        )
    return vf.namespace if namespace is None else namespace


def _hydrated(
    queryset: VectorQuerySet,
    vf: VectorField,
    operation: str,
    ns: str | None,
    limit: int,
    load_records: bool,
    exclude: Any,
    search: Search,
    scores: Mapping[str, Callable[[Match], Any]],
) -> VectorQuerySet | QueryResult:
    """Run ``search`` (over-fetching while the queryset's filters drop hits) and load the
    rows in rank order, each annotated with ``scores``."""
    filtered = bool(queryset.query.where)
    want = limit + (exclude is not None)
    rounds = [min(validation.MAX_TOP_K, want * f) for f in OVERFETCH] if filtered else [want]
    provider = vf.client().provider_name
    with instrument(operation, provider, vf.index_name, ns, metadata={"top_k": limit}) as details:
        for top_k in rounds:
            try:
                result = search(top_k)
            except NotFoundError:
                result = QueryResult([], index=vf.index_name)  # nothing synced yet
            hits = [
                (pk, m)
                for m in result
                if (pk := pk_from_vector_id(vf.model, m.id)) is not None and pk != exclude
            ]
            if filtered:
                found = set(
                    queryset.filter(pk__in=[pk for pk, _ in hits]).values_list("pk", flat=True)
                )
                hits = [(pk, m) for pk, m in hits if pk in found]
            if len(hits) >= limit or len(result) < top_k:
                break
        hits = hits[:limit]
        details["result_count"] = len(hits)
    if not load_records:
        return QueryResult([m for _, m in hits], index=result.index, namespace=result.namespace)
    if not hits:
        return queryset.none()
    pks = [pk for pk, _ in hits]
    annotations = {name: _by_pk(hits, get, FloatField()) for name, get in scores.items()}
    return (
        queryset.filter(pk__in=pks)
        .annotate(**annotations)
        .order_by(_by_pk([(pk, i) for i, pk in enumerate(pks)], lambda i: i, IntegerField()))
    )


def _score(match: Match) -> float:
    return match.score


def _distance(match: Match) -> float | None:
    return match.distance


def _by_pk(pairs: list[tuple[Any, Any]], get: Any, output_field: Any) -> Case:
    return Case(
        *[When(pk=pk, then=Value(get(item))) for pk, item in pairs], output_field=output_field
    )
