"""Input checks shared by every provider, run before anything is written.

Each failure is a :class:`ValidationError` that names the bad value, so a whole batch is
either accepted or rejected before the store is touched.
"""

from __future__ import annotations

import json
import json.encoder
import math
import re
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ValidationError
from .distance import METRICS, Metric
from .results import Vector
from .text import record_text

# Whole names only (fullmatch): a $-anchored match would let "docs\n" through.
INDEX_NAME_RE = re.compile(r"[a-z0-9_-]{1,63}")
NAMESPACE_RE = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
MAX_ID_LENGTH = 512
MAX_TOP_K = 10_000
MAX_PAGE_SIZE = 10_000
MAX_DIMENSION = 16_000


def index_name(name: Any) -> str:
    if not isinstance(name, str) or not INDEX_NAME_RE.fullmatch(name):
        raise ValidationError(
            f"Invalid index name {name!r}: use 1-63 lowercase letters, digits, '_' or '-'."
        )
    return name


def namespace(value: Any) -> str:
    """``None`` and ``""`` are the default namespace."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not NAMESPACE_RE.fullmatch(value):
        raise ValidationError(
            f"Invalid namespace {value!r}: use 1-128 letters, digits, '_', '-', '.' or ':'."
        )
    return value


def vector_id(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"Vector id must be a string, got {type(value).__name__}: {value!r}.")
    if not value or len(value) > MAX_ID_LENGTH or "\x00" in value:
        raise ValidationError(
            f"Invalid vector id {value[:40]!r}: ids are 1-{MAX_ID_LENGTH} characters without NUL."
        )
    return value


def id_prefix(value: Any) -> str:
    """A prefix that ids are listed by; ``None`` and ``""`` match every id."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > MAX_ID_LENGTH or "\x00" in value:
        raise ValidationError(
            f"Invalid id prefix {value!r}: use a string of at most {MAX_ID_LENGTH} characters "
            "without NUL."
        )
    return value


def integer(name: str, value: Any, low: int, high: int) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{name} must be an integer from {low} to {high}, got {value!r}.")
    return value


def page_size(value: Any) -> int:
    return integer("page_size", value, 1, MAX_PAGE_SIZE)


def vector_ids(values: Any, *, allow_duplicates: bool = False) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValidationError(f"ids must be a list of strings, got {values!r}.")
    ids = [vector_id(v) for v in values]
    if not ids:
        raise ValidationError("ids must not be empty.")
    if not allow_duplicates and len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise ValidationError(f"Duplicate vector id {dup!r} in one batch.")
    return ids


def dimension(value: Any) -> int:
    return integer("dimension", value, 1, MAX_DIMENSION)


def metric(value: Any) -> Metric:
    if value not in METRICS:
        raise ValidationError(f"Unknown metric {value!r}; expected one of {list(METRICS)}.")
    return value  # type: ignore[no-any-return]


def top_k(value: Any, name: str = "top_k") -> int:
    """1 to ``MAX_TOP_K``; ``name`` is what the caller called it (``limit`` on the ORM)."""
    return integer(name, value, 1, MAX_TOP_K)


def score_threshold(value: Any) -> float | None:
    """A finite number, or ``None`` for no threshold."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"score_threshold must be a finite number, got {value!r}.")
    return float(value)


def as_array(
    values: Any,
    *,
    expected_dimension: int | None = None,
    what: str = "vector",
    expected_by: str = "the index expects",
) -> np.ndarray:
    """One vector as a 1-D float32 array, finite and of the expected dimension
    (``expected_by`` says who expects it, in the error)."""
    arr = _to_float_array(values, what)
    if arr.ndim != 1:
        raise ValidationError(f"{what} must be one-dimensional, got shape {arr.shape}.")
    _check_matrix(arr.reshape(1, -1), expected_dimension, lambda _i: what, expected_by)
    return arr


def as_matrix(
    values: Any, *, expected_dimension: int | None = None, labels: Sequence[str] | None = None
) -> np.ndarray:
    """A batch of vectors as a 2-D float32 array; errors name the offending row's id."""
    arr = _to_float_array(values, "values")
    if arr.ndim != 2:
        raise ValidationError(
            f"values must be a 2-D array (one row per vector), got shape {arr.shape}."
        )

    def label(i: int) -> str:
        return f"vector {labels[i]!r}" if labels else f"vector #{i}"

    _check_matrix(arr, expected_dimension, label)
    return arr


def _to_float_array(values: Any, what: str) -> np.ndarray:
    if type(values) is list and values:
        packed = _packed(values, what)
        if packed is not None:
            return packed
    if isinstance(values, str | bytes) or values is None:
        raise ValidationError(f"{what} must be a sequence of numbers, got {values!r}.")
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} must contain only numbers: {exc}.") from exc
    # Only real numbers: numpy would otherwise turn "1.5" or True into floats silently.
    if raw.size and raw.dtype.kind == "O" and raw.ndim in (1, 2):
        # Python objects (Decimal, Fraction...): numbers if struct takes them, as for lists
        packed = _packed(raw.tolist(), what)
        if packed is not None:
            return packed
    if raw.size and (raw.dtype.kind not in "iuf"):
        kind = "booleans" if raw.dtype.kind == "b" else "non-numeric values"
        raise ValidationError(f"{what} must contain only numbers, got {kind}.")
    with np.errstate(over="ignore"):
        return raw.astype(np.float32)


def _packed(values: list[Any], what: str) -> np.ndarray | None:
    """A list of numbers, or of equal-length lists of numbers, as float32 through ``struct``,
    about three times as fast as numpy on Python floats.

    ``None`` when ``struct`` refuses an element (a string, ``None``, a nested list), the rows
    differ in length or a value overflows float32: numpy's path then decides, with its
    errors. ``struct`` takes booleans as 1 and 0, as numpy does among numbers, so a vector
    made only of booleans is refused here.
    """
    rows = values if type(values[0]) is list else [values]
    width = len(rows[0])
    try:
        pack = struct.Struct(f"{width}f").pack
        data = bytearray().join([pack(*row) for row in rows])
    except (struct.error, TypeError, OverflowError):
        return None
    matrix = np.frombuffer(data, dtype=np.float32).reshape(len(rows), width)
    if width:
        for i in np.flatnonzero(((matrix == 0) | (matrix == 1)).all(axis=1)):
            if all(type(x) is bool or type(x) is np.bool_ for x in rows[int(i)]):
                raise ValidationError(f"{what} must contain only numbers, got booleans.")
    return matrix if rows is values else matrix[0]


def _check_matrix(
    arr: np.ndarray, expected: int | None, label: Any, expected_by: str = "the index expects"
) -> None:
    if arr.shape[-1] == 0:
        raise ValidationError(f"{label(0)} is empty.")
    if expected is not None and arr.shape[1] != expected:
        raise ValidationError(
            f"{label(0)} has dimension {arr.shape[1]}, but {expected_by} {expected}."
        )
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ValidationError(f"{label(int(np.argmax(bad)))} contains NaN or infinity.")


def _json_encoder() -> Callable[[Any], str]:
    """Compact JSON, NaN refused. ``JSONEncoder.encode`` builds CPython's C encoder anew for
    every value, half the time spent on a small dict; this builds it once. Without circular
    checks: a circular value (``RecursionError``) is encoded again the standard way, which
    reports it."""
    standard = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # not CPython
        return standard.encode
    one_shot = make(
        None, standard.default, json.encoder.encode_basestring_ascii, None, ":", ",",
        False, False, False,
    )  # fmt: skip

    def encode(value: Any) -> str:
        try:
            return "".join(one_shot(value, 0))
        except RecursionError:
            return standard.encode(value)

    return encode


_encode_json = _json_encoder()


def metadata(value: Any, *, what: str = "metadata") -> dict[str, Any]:
    """A JSON-serialisable dict with string keys; ``None`` is ``{}``."""
    checked: list[dict[str, Any]] = []
    _add_metadata(value, checked, [], what=what)
    return checked[0]


def _add_metadata(
    value: Any,
    checked: list[dict[str, Any]],
    encoded: list[bytes],
    *,
    vid: str | None = None,
    what: str = "metadata",
) -> None:
    """Check ``value`` and append it to ``checked`` and its compact JSON to ``encoded``.

    Encoded once here for the whole write path. Appending, rather than returning a pair,
    allocates no container per vector (see :func:`batch`); ``vid`` names the vector in
    errors, formatted only when there is one.
    """
    if value is None:
        checked.append({})
        encoded.append(b"{}")
        return
    if type(value) is not dict:
        if not isinstance(value, Mapping):
            kind = type(value).__name__
            raise ValidationError(f"{_label(what, vid)} must be a dict, got {kind}.")
        value = dict(value)
    for key in value:
        # json would quietly turn 1, True or None keys into strings.
        if type(key) is not str and not isinstance(key, str):
            raise ValidationError(f"{_label(what, vid)} keys must be strings, got {key!r}.")
    try:
        encoded.append(_encode_json(value).encode())
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{_label(what, vid)} is not JSON-serialisable: {exc}.") from exc
    checked.append(value)


def _label(what: str, vid: str | None) -> str:
    return what if vid is None else f"metadata of vector {vid!r}"


@dataclass(frozen=True, slots=True)
class Batch:
    """Validated upsert input: parallel ids, a float32 matrix and metadata dicts.

    ``metadata_json`` holds each dict's compact JSON when validation produced it, so
    providers that send JSON (pgvector's COPY) don't encode it a second time.
    """

    ids: list[str]
    values: np.ndarray
    metadata: list[dict[str, Any]]
    metadata_json: list[bytes] | None = None
    texts: list[str | None] | None = None  # for keyword search; None: no record has text

    def __len__(self) -> int:
        return len(self.ids)

    def chunks(self, size: int) -> Iterable[Batch]:
        encoded = self.metadata_json
        for start in range(0, len(self.ids), size):
            end = start + size
            yield Batch(
                self.ids[start:end],
                self.values[start:end],
                self.metadata[start:end],
                None if encoded is None else encoded[start:end],
                None if self.texts is None else self.texts[start:end],
            )


def batch(
    vectors: Any = None,
    *,
    ids: Any = None,
    values: Any = None,
    metadata: Any = None,
    texts: Any = None,
    expected_dimension: int | None = None,
) -> Batch:
    """Normalise either ``vectors=[{id, values, metadata, text}...]`` or ``ids`` + a 2-D
    ``values`` (with optional parallel ``metadata`` and ``texts``)."""
    if vectors is not None and (ids is not None or values is not None):
        raise ValidationError("Pass either vectors=[...] or ids= with values=, not both.")
    if vectors is None:
        if ids is None or values is None:
            raise ValidationError("upsert needs vectors=[...] or ids= with values=.")
        id_list = vector_ids(ids)
        matrix = as_matrix(values, expected_dimension=expected_dimension, labels=id_list)
        if matrix.shape[0] != len(id_list):
            raise ValidationError(f"Got {len(id_list)} ids but {matrix.shape[0]} rows of values.")
        metas = [{}] * len(id_list) if metadata is None else list(metadata)
        if len(metas) != len(id_list):
            raise ValidationError(f"Got {len(id_list)} ids but {len(metas)} metadata entries.")
        if texts is not None and len(texts := list(texts)) != len(id_list):
            raise ValidationError(f"Got {len(id_list)} ids but {len(texts)} texts.")
        return _batch(id_list, matrix, metas, texts)

    if isinstance(vectors, Mapping | Vector | str | bytes):
        raise ValidationError("vectors must be a list of dicts or Vector objects.")
    # Three flat lists, filled without a tuple per vector: a large batch would otherwise
    # allocate enough containers to set off repeated full garbage collections.
    raw_ids: list[Any] = []
    rows: list[Any] = []
    metas: list[Any] = []
    item_texts: list[Any] = []
    for position, v in enumerate(vectors):
        if type(v) is dict and "id" in v and "values" in v and v.keys() <= _ITEM_KEYS:
            raw_ids.append(v["id"])  # the usual input, checked at once
            rows.append(v["values"])
            metas.append(v.get("metadata"))
            item_texts.append(v.get("text"))
        else:
            vid, row, meta, item_text = _item(v, position)
            raw_ids.append(vid)
            rows.append(row)
            metas.append(meta)
            item_texts.append(item_text)
    if not rows:
        raise ValidationError("vectors must not be empty.")
    id_list = vector_ids(raw_ids)
    if not all(type(row) is list for row in rows):  # lists, the usual input, pass at once
        for vid, row in zip(id_list, rows, strict=True):
            if isinstance(row, str | bytes) or not hasattr(row, "__len__"):
                raise ValidationError(f"vector {vid!r}: values must be a sequence of numbers.")
    if len({len(row) for row in rows}) > 1:
        vid, row = next(
            (v, r) for v, r in zip(id_list, rows, strict=True) if len(r) != len(rows[0])
        )
        raise ValidationError(
            f"vector {vid!r} has dimension {len(row)}, "
            f"but vector {id_list[0]!r} has {len(rows[0])}."
        )
    matrix = as_matrix(rows, expected_dimension=expected_dimension, labels=id_list)
    return _batch(id_list, matrix, metas, item_texts)


def _batch(ids: list[str], matrix: np.ndarray, metas: list[Any], texts: Any = None) -> Batch:
    checked: list[dict[str, Any]] = []
    encoded: list[bytes] = []
    for meta, vid in zip(metas, ids, strict=True):
        _add_metadata(meta, checked, encoded, vid=vid)
    checked_texts = None
    if texts is not None and any(t is not None for t in texts):
        checked_texts = [record_text(t, vid) for t, vid in zip(texts, ids, strict=True)]
    return Batch(ids, matrix, checked, encoded, checked_texts)


_ITEM_KEYS = frozenset({"id", "values", "metadata", "text"})


def _item(v: Any, position: int) -> tuple[Any, Any, Any, Any]:
    if isinstance(v, Vector):
        return v.id, v.values, v.metadata, v.text
    if isinstance(v, Mapping):
        unknown = set(v) - _ITEM_KEYS
        if unknown:
            raise ValidationError(f"vectors[{position}] has unknown keys {sorted(unknown)}.")
        if "id" not in v or "values" not in v:
            raise ValidationError(f"vectors[{position}] needs 'id' and 'values'.")
        return v["id"], v["values"], v.get("metadata"), v.get("text")
    raise ValidationError(f"vectors[{position}] must be a dict or Vector, got {type(v).__name__}.")
