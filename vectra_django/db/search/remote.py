"""Search through a provider index (any store but pgvector on the model's own database).

The store is queried when ``vector_search`` is called; the returned queryset loads those
rows in one query, in rank order, without ids whose rows are gone. When the queryset itself
is filtered, the store is asked for 3x and then 10x ``limit`` candidates until ``limit``
rows pass the filters (so fewer than ``limit`` rows come back only when the store has no
more).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Case, FloatField, IntegerField, Value, When

from ...client import filters, validation
from ...client.results import QueryResult
from ...errors import NotFoundError, ValidationError
from ...instrumentation import instrument
from ..fields import VectorField, pk_from_vector_id

if TYPE_CHECKING:
    from ..queryset import VectorQuerySet

OVERFETCH = (3, 10)


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
    unknown = sorted(filters.keys(node) - set(vf.metadata_fields))
    if unknown:
        raise ValidationError(
            f"Filter key {unknown[0]!r} is not a metadata field of "
            f"{vf.model._meta.label}.{vf.name}; declared: {list(vf.metadata_fields)}."
        )
    client = vf.client()
    ns = vf.namespace if namespace is None else namespace
    filtered = bool(queryset.query.where)
    want = limit + (exclude is not None)
    rounds = [min(validation.MAX_TOP_K, want * f) for f in OVERFETCH] if filtered else [want]
    with instrument(
        "search", client.provider_name, vf.index_name, ns, metadata={"top_k": limit}
    ) as details:
        for top_k in rounds:
            try:
                result = client.query(
                    vf.index_name,
                    values,
                    top_k=top_k,
                    filter=node,
                    namespace=ns,
                    score_threshold=threshold,
                    include_metadata=False,
                )
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
    return (
        queryset.filter(pk__in=pks)
        .annotate(
            vector_score=_by_pk(hits, lambda m: m.score, FloatField()),
            vector_distance=_by_pk(hits, lambda m: m.distance, FloatField()),
        )
        .order_by(_by_pk([(pk, i) for i, pk in enumerate(pks)], lambda i: i, IntegerField()))
    )


def _by_pk(pairs: list[tuple[Any, Any]], get: Any, output_field: Any) -> Case:
    return Case(
        *[When(pk=pk, then=Value(get(item))) for pk, item in pairs], output_field=output_field
    )
