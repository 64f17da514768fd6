"""Text for keyword and hybrid search: checks on query text, record text and ``alpha``.

Query text reaches each store as a bound parameter and PostgreSQL reads it with
``websearch_to_tsquery``, which never fails on syntax, so quotes, ``&|!():*'`` and other
operators are simply words or search syntax; what a store cannot take at all (NUL bytes,
empty text, an unbounded length) stops here with an error that says so.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import ValidationError

# A query longer than this is a document, not a search: refused rather than sent.
MAX_QUERY_LENGTH = 10_000
# Record text up to this many characters, kept whole by every store.
MAX_RECORD_TEXT_LENGTH = 1_000_000
# Keyword search reads a text's first this many characters, in every store. PostgreSQL's
# tsvector refuses more than 1 MB of words and positions, and a write that would make a
# bigger one fails; text in the worst script for it (hyphenated words of 4-byte letters)
# costs about 8 bytes a character, so 100,000 characters always fit.
INDEXED_TEXT_LENGTH = 100_000
# Reciprocal Rank Fusion's constant, and how many candidates each leg contributes at least.
RRF_K = 60
MIN_CANDIDATES = 20


def query_text(value: Any, name: str = "text") -> str:
    """``value`` as a search text: a non-blank string without NUL, at most
    :data:`MAX_QUERY_LENGTH` characters."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string, got {type(value).__name__}.")
    if "\x00" in value:
        raise ValidationError(f"{name} contains a NUL character, which no store can search.")
    if not value.strip():
        raise ValidationError(f"{name} is empty: give the words to search for.")
    if len(value) > MAX_QUERY_LENGTH:
        raise ValidationError(
            f"{name} is {len(value):,} characters long; a search text has at most "
            f"{MAX_QUERY_LENGTH:,}."
        )
    return value


def record_text(value: Any, vid: str) -> str | None:
    """The ``text`` a record carries for keyword search: ``None`` or a string without NUL."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(
            f"text of vector {vid!r} must be a string, got {type(value).__name__}."
        )
    if "\x00" in value:
        raise ValidationError(f"text of vector {vid!r} contains a NUL character.")
    if len(value) > MAX_RECORD_TEXT_LENGTH:
        raise ValidationError(
            f"text of vector {vid!r} is {len(value):,} characters long; at most "
            f"{MAX_RECORD_TEXT_LENGTH:,}."
        )
    return value


def alpha(value: Any) -> float:
    """The vector leg's weight in a hybrid search: a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"alpha must be a number between 0 and 1, got {value!r}.")
    if not 0.0 <= value <= 1.0:
        raise ValidationError(
            f"alpha must be between 0 and 1 (1 = vector only, 0 = text only), got {value!r}."
        )
    return float(value)


def weight(value: Any, name: str) -> float:
    """A leg's weight in a fusion: a finite number, zero or more."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{name} must be a number, got {value!r}.")
    if value < 0:
        raise ValidationError(f"{name} must not be negative, got {value!r}.")
    return float(value)


def candidates(value: Any, top_k: int) -> int:
    """How many rows each leg of a hybrid search ranks: ``value``, or at least
    :data:`MIN_CANDIDATES` and never fewer than ``top_k``."""
    if value is None:
        return max(top_k, MIN_CANDIDATES)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise ValidationError(f"candidates must be an integer from 1 to 10000, got {value!r}.")
    if value < top_k:
        raise ValidationError(
            f"candidates={value} is fewer than the {top_k} results asked for; "
            "each leg must rank at least as many rows as the search returns."
        )
    return value


def rrf_k(value: Any) -> int:
    """Reciprocal Rank Fusion's ``k``: a positive integer (60 by default)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"rrf_k must be a positive integer, got {value!r}.")
    return value
