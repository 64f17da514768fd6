"""PostgreSQL and pgvector facts that the client's pgvector provider and the ORM side share.

Public, and free of both sides' internals: the ``hnsw.ef_search`` defaults, pgvector's
limits, the text form of a vector, the registration of pgvector's psycopg types, and the
search settings a session runs with, set with ``set_config`` in one pipelined transaction.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

# pgvector's limits for hnsw.ef_search and the HNSW build parameters.
MAX_EF_SEARCH = 1000
# hnsw.ef_search by default, unfiltered and filtered (why: docs/architecture.md).
EF_SEARCH = 40
FILTERED_EF_SEARCH = 200


# How a vector column stores values, and how an index may quantize them.
PRECISIONS = ("single", "half")
QUANTIZATIONS = (None, "binary")
# The pgvector release that brought each feature this package uses beyond plain vectors.
PGVECTOR_FEATURES = {"halfvec": (0, 7, 0), "binary_quantize": (0, 7, 0)}


# Candidates per result that a binary-quantized search takes by Hamming distance and then
# re-ranks by exact distance. On real sentence embeddings (all-MiniLM-L6-v2, 100k rows)
# recall@10 is 0.90 at 4 per result and 0.96 at 10 (docs/benchmarks/bulk_load_minilm.md).
CANDIDATES_PER_RESULT = 10


# ``ts_rank`` normalization of every keyword search, in place and in a client's index table:
# divided by 1 + log(document length) (1), then mapped to r / (r + 1) (32): scores in [0, 1).
TEXT_RANK_NORMALIZATION = 1 | 32


def rerank_candidates(top_k: int) -> int:
    """How many candidates a binary-quantized search of ``top_k`` re-ranks by default."""
    return max(top_k, min(MAX_EF_SEARCH, CANDIDATES_PER_RESULT * top_k))


# The operator class an HNSW or IVFFlat index needs per metric, on a ``vector`` column.
OPCLASSES = {
    "cosine": "vector_cosine_ops",
    "euclidean": "vector_l2_ops",
    "dotproduct": "vector_ip_ops",
}


def opclass(metric: str, precision: str = "single") -> str:
    """The operator class an HNSW/IVFFlat index needs to serve ``metric`` searches on a
    column of ``precision`` (``"single"``: ``vector``, ``"half"``: ``halfvec``)."""
    name = OPCLASSES[metric]
    return name.replace("vector_", "halfvec_", 1) if precision == "half" else name


def max_indexed_dimensions(precision: str, quantization: str | None) -> tuple[int, str]:
    """The most dimensions an HNSW or IVFFlat index takes, and what it indexes then."""
    if quantization == "binary":
        return 64000, "binary-quantized vectors"
    if precision == "half":
        return 4000, "halfvec columns"
    return 2000, "vector columns"


def require_pgvector(version: str | None, feature: str) -> None:
    """Raise a ``ValidationError`` naming ``feature`` when pgvector ``version`` (the
    extension's ``extversion``; ``None``: not installed) is older than it needs."""
    from ..errors import ValidationError

    needed = PGVECTOR_FEATURES[feature]
    found = tuple(int(part) for part in (version or "0").split(".")[:3] if part.isdigit())
    if found < needed:
        raise ValidationError(
            f"{feature} needs pgvector {'.'.join(map(str, needed))} or newer; the database "
            f"has {version or 'no vector extension'}. Upgrade the extension "
            "(ALTER EXTENSION vector UPDATE) first."
        )


def pgvector_version(conn: psycopg.Connection[Any]) -> str | None:
    """The installed vector extension's version, or ``None``."""
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    return row[0] if row else None


def default_ef_search(top_k: int, filtered: bool) -> int:
    """The ``hnsw.ef_search`` a search of ``top_k`` runs with unless told otherwise."""
    return min(MAX_EF_SEARCH, max(FILTERED_EF_SEARCH if filtered else EF_SEARCH, top_k))


def vector_text(values: Any) -> str:
    """pgvector's text form of float32 ``values``: nine significant digits, the fewest that
    give back every float32 exactly, formatted twice as fast as one ``str()`` per value."""
    return "[" + ",".join(map("%.9g".__mod__, values)) + "]"


_registered: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()


def register(conn: psycopg.Connection[Any]) -> None:
    """Register pgvector's types on ``conn`` once, as soon as the extension exists."""
    if conn in _registered:
        return
    from pgvector.psycopg import register_vector

    try:
        register_vector(conn)
    except psycopg.ProgrammingError:
        return  # no vector extension yet: tried again by the next operation that needs it
    _registered.add(conn)


# pgvector's own defaults, for a session whose library is not loaded yet (its settings
# read as NULL until then).
_PGVECTOR_DEFAULTS = {
    "hnsw.ef_search": str(EF_SEARCH),
    "hnsw.iterative_scan": "off",
    "ivfflat.iterative_scan": "off",
    "ivfflat.probes": "1",
}
_READ_SESSION = (
    "SELECT current_setting('hnsw.ef_search', true), "
    "current_setting('hnsw.iterative_scan', true), "
    "current_setting('ivfflat.iterative_scan', true), "
    "current_setting('ivfflat.probes', true), "
    "(SELECT setting FROM pg_settings WHERE name = 'statement_timeout'), "
    "current_setting('plan_cache_mode')"
)
_NAMES = (*_PGVECTOR_DEFAULTS, "statement_timeout", "plan_cache_mode")
_sessions: weakref.WeakKeyDictionary[psycopg.Connection[Any], dict[str, str]] = (
    weakref.WeakKeyDictionary()
)


def session_settings(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """The search settings ``conn``'s session runs with, read once per connection (the
    server's configuration or the connection's options may change pgvector's defaults)."""
    found = _sessions.get(conn)
    if found is None:
        row = conn.execute(_READ_SESSION, prepare=False).fetchone() or ()
        found = {
            name: value if value is not None else _PGVECTOR_DEFAULTS.get(name, "")
            for name, value in zip(_NAMES, row, strict=True)
        }
        _sessions[conn] = found
    return found


def forget_session_settings() -> None:
    """Read every session's settings again (after a ``SET`` behind this package's back)."""
    _sessions.clear()


def set_config(settings: Mapping[str, str], local: bool = True) -> tuple[str, list[str]]:
    """One ``SELECT set_config(name, value, true), ...``: ``SET LOCAL`` with bound values
    (``SET`` for the whole session with ``local=False``)."""
    call = "set_config(%s, %s, true)" if local else "set_config(%s, %s, false)"
    params = [part for item in settings.items() for part in item]
    return "SELECT " + ", ".join([call] * len(settings)), params


@contextlib.contextmanager
def pipelined_transaction(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """``BEGIN`` and ``COMMIT`` around the block's statements, all sent in one psycopg
    pipeline (one round trip) on ``conn`` in autocommit mode; rolled back if any fails,
    so the connection is never left in a failed transaction."""
    control = conn.cursor()
    try:
        with conn.pipeline():
            control.execute("BEGIN")
            yield
            control.execute("COMMIT")
    except BaseException:
        if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
        raise
