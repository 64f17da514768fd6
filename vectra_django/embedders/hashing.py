"""``HashingEmbedder``: deterministic feature-hashing vectors that need nothing but NumPy."""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..errors import ConfigurationError


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Scale each row to unit length in place; all-zero rows stay zero."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return matrix


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

    @property
    def identity(self) -> str:
        """What makes its vectors: the dimension and the weights."""
        weights = f"{self.bigram_weight:g},{self.trigram_weight:g},{self.common_weight:g}"
        return f"hashing:{self.dimension}:{weights}"

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
        return normalise(out)

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text; returns a float32 vector of length ``dimension``."""
        return self.embed([text])[0]
