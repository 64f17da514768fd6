"""Recompute a vector only when its source text changed since the row was loaded or embedded."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .base import Embedder

_HASHES = "_vectra_source_hashes"
_MISSING = object()

#: Where a vector's text comes from: an attribute name, several (joined with newlines) or a
#: callable taking the instance.
Source = str | Sequence[str] | Callable[[Any], Any]


def source_hash(text: str | None) -> str:
    """A stable fingerprint of a source text."""
    return hashlib.blake2b((text or "").encode(), digest_size=16).hexdigest()


def source_text(instance: Any, source: Source) -> str:
    """The text ``source`` gives for ``instance``; ``None`` and empty values count as ``""``.

    Several names give their non-empty values joined with newlines, so a blank field
    leaves no stray separator that would change the fingerprint.
    """
    if callable(source):
        value = source(instance)
        return "" if value is None else str(value)
    values = (getattr(instance, name) for name in source_names(source) or ())
    return "\n".join(str(v) for v in values if v is not None and v != "")


def source_names(source: Source) -> tuple[str, ...] | None:
    """The attribute names ``source`` reads, or ``None`` when a callable may read anything."""
    if callable(source):
        return None
    return (source,) if isinstance(source, str) else tuple(source)


def _is_loaded(instance: Any, source: Source, vector_field: str) -> bool:
    """Whether reading ``source`` and the vector costs no query (deferred fields are missing
    from ``__dict__``)."""
    names = source_names(source)
    concrete = {f.attname for f in instance._meta.concrete_fields}
    wanted = (*(names or ()), vector_field)
    if not all(n in instance.__dict__ for n in wanted if n in concrete):
        return False
    if names is not None and all(n in concrete for n in names):
        return True
    # A callable or a property as source may read any field: require that nothing is deferred.
    return not instance.get_deferred_fields()


def _record(instance: Any, vector_field: str, digest: str) -> None:
    # A new dict each time: copy.copy() of a model instance shares its __dict__ values.
    hashes = instance.__dict__.get(_HASHES, {})
    instance.__dict__[_HASHES] = {**hashes, vector_field: digest}


def remember_source(instance: Any, source: Source, vector_field: str) -> None:
    """Record that ``instance``'s current vector was computed from its current source text.

    Called when a row is loaded (see ``track_source``) and when a vector is assigned to a
    ``VectorField`` with a ``source``. Does nothing when the vector is empty or either
    value is deferred, so a later save computes the vector.
    """
    if not _is_loaded(instance, source, vector_field):
        return
    if instance.__dict__.get(vector_field) is None:
        return
    _record(instance, vector_field, source_hash(source_text(instance, source)))


def is_tracked(instance: Any) -> bool:
    """Whether ``instance`` went through ``track_source``'s receiver (its ``__init__`` is over)."""
    return _HASHES in instance.__dict__


def _needs_embedding(instance: Any, text: str, vector_field: str) -> bool:
    known = instance.__dict__.get(_HASHES, {}).get(vector_field)
    # A deferred vector is assumed present: reading it would cost a query.
    has_vector = instance.__dict__.get(vector_field, True) is not None
    return known != source_hash(text) or not has_vector


def embed_if_changed(instance: Any, source: Source, vector_field: str, embedder: Embedder) -> bool:
    """Set ``instance.<vector_field>`` from its ``source`` text if that text changed.

    ``source`` is a field or any attribute (a property combining several fields works),
    a sequence of them, or a callable taking the instance. Returns whether the vector was
    set. Call it before saving (``VectorField(source=...)`` does so on every save).
    """
    return embed_changed([instance], source, vector_field, embedder) == 1


def embed_changed(
    instances: Iterable[Any],
    source: Source,
    vector_field: str,
    embedder: Embedder,
    *,
    batch_size: int = 256,
) -> int:
    """``embed_if_changed`` for many instances, calling the embedder in batches.

    Meant for bulk paths (``bulk_create``, ``bulk_update``, reindexing) that bypass
    ``save()``. An empty source text gives no vector (``None``) rather than a meaningless
    one, without calling the embedder. Returns how many instances got a different vector.
    """
    pending: list[tuple[Any, str]] = []
    done = 0
    for instance in instances:
        text = source_text(instance, source)
        if not _needs_embedding(instance, text, vector_field):
            continue
        if not text.strip():
            done += _clear(instance, vector_field)
            continue
        pending.append((instance, text))
        if len(pending) >= batch_size:
            done += _embed_batch(pending, vector_field, embedder)
            pending = []
    return done + _embed_batch(pending, vector_field, embedder)


def _clear(instance: Any, vector_field: str) -> int:
    """Empty the vector of an instance whose text is empty; 1 if that changed it."""
    had_vector = instance.__dict__.get(vector_field, _MISSING) is not None
    setattr(instance, vector_field, None)
    return int(had_vector)


def _embed_batch(pending: list[tuple[Any, str]], vector_field: str, embedder: Embedder) -> int:
    if not pending:
        return 0
    vectors = embedder.embed([text for _, text in pending])
    for (instance, text), vector in zip(pending, vectors, strict=True):
        setattr(instance, vector_field, vector)
        _record(instance, vector_field, source_hash(text))
    return len(pending)


def track_source(model: type, source: Source, vector_field: str) -> Callable[[], None]:
    """Remember the source text's fingerprint on every ``model`` instance loaded or built.

    Connects a ``post_init`` receiver for ``model`` only (calling it again replaces it) and
    returns a function that disconnects it. ``VectorField(source=...)`` calls it for its
    model, its proxies and its multi-table children.
    """
    from django.db.models.signals import post_init

    def receiver(sender: type, instance: Any, **kwargs: Any) -> None:
        instance.__dict__.setdefault(_HASHES, {})
        remember_source(instance, source, vector_field)

    uid = f"vectra-source:{model._meta.label}.{vector_field}"
    post_init.disconnect(sender=model, dispatch_uid=uid)
    post_init.connect(receiver, sender=model, weak=False, dispatch_uid=uid)
    return lambda: post_init.disconnect(sender=model, dispatch_uid=uid)
