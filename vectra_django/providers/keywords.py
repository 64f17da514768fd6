"""Words for stores without full-text search of their own: tokens, BM25 and sparse vectors.

The memory store ranks ``text`` by Okapi BM25 over its records; Qdrant gets the same tokens
as a sparse vector (hashed term ids, saturated term frequencies) and weighs them by its own
inverse document frequency. Tokens are lowercased words without the commonest English
function words, so "The Fox" and "fox" match as they do in PostgreSQL's ``english``
configuration (which also stems; these tokens do not).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from ..client.text import INDEXED_TEXT_LENGTH

_WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
    ]
)
# Okapi BM25's usual constants: term-frequency saturation and length normalisation.
K1 = 1.2
B = 0.75


def tokens(text: str | None) -> list[str]:
    """The searchable words of ``text`` (its first :data:`INDEXED_TEXT_LENGTH` characters,
    as PostgreSQL indexes it), lowercased, in order, stopwords left out."""
    if not text:
        return []
    words = _WORD.findall(text[:INDEXED_TEXT_LENGTH].lower())
    return [w for w in words if w not in STOPWORDS]


def bm25(query: Iterable[str], documents: Sequence[Counter[str]]) -> list[float]:
    """The BM25 score of each document (a term counter) for the ``query`` terms; 0 where
    no query term occurs."""
    terms = set(query)
    count = len(documents)
    if not terms or not count:
        return [0.0] * count
    lengths = [sum(d.values()) for d in documents]
    average = (sum(lengths) / count) or 1.0
    frequency = {t: sum(1 for d in documents if t in d) for t in terms}
    idf = {t: math.log(1 + (count - n + 0.5) / (n + 0.5)) for t, n in frequency.items()}
    scores = []
    for doc, length in zip(documents, lengths, strict=True):
        score = 0.0
        for t in terms:
            tf = doc.get(t, 0)
            if tf:
                norm = tf + K1 * (1 - B + B * length / average)
                score += idf[t] * tf * (K1 + 1) / norm
        scores.append(score)
    return scores


def term_id(term: str) -> int:
    """A stable 31-bit id for ``term`` (a sparse vector's index)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big") >> 1


def sparse_document(text: str | None) -> tuple[list[int], list[float]]:
    """``text`` as a sparse vector: each term's saturated frequency, ``tf*(k1+1)/(tf+k1)``."""
    counts: Counter[int] = Counter(term_id(t) for t in tokens(text))
    ids = sorted(counts)
    return ids, [counts[i] * (K1 + 1) / (counts[i] + K1) for i in ids]


def sparse_query(text: str) -> tuple[list[int], list[float]]:
    """The query's terms as a sparse vector of ones (each distinct term counts once)."""
    ids = sorted({term_id(t) for t in tokens(text)})
    return ids, [1.0] * len(ids)
