"""Bad input is refused with a ValidationError naming the problem, and leaves the store as it was.

Every case runs on the memory store and on pgvector (through its own pool and through
Django's connection). "As it was" is checked by counting and fetching every vector before
and after, and on pgvector also by a checksum over the index's table and the registry.
A property test throws generated filter trees (hostile keys, unknown operators, odd values,
nesting) at real pgvector: each is refused at parse time or runs without an SQL error,
changes nothing, and matches exactly what the reference evaluator selects.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import pg_helpers
from vectra_django import Client
from vectra_django.client import filters
from vectra_django.errors import ValidationError
from vectra_django.providers.pgvector import sql as _pgsql

DIM = 4
NAMESPACES = ("", "other")
IDS = [f"doc-{i}" for i in range(8)]
NAN, INF = float("nan"), float("inf")
INJECTION = "x'); DROP TABLE vectra_indexes; --"


def corpus_metadata(i: int) -> dict[str, Any]:
    meta: dict[str, Any] = {"n": i, "half": i / 2, "even": i % 2 == 0, "name": f"O'Brien {i}"}
    if i % 3:
        meta["tag"] = ["a", "b", "c"][i % 3]
    if i == 5:
        meta["nested"] = {"k": [1, 2, {"deep": None}]}
    return meta


def corpus_vector(i: int) -> list[float]:
    return [1.0 + i, -0.5 * i, 0.25, float(i % 3)]


@dataclass
class Store:
    client: Client  # bound to the test's index
    checksum: Callable[[], Any]  # SQL checksum of the table and registry; None on memory


def _fill(client: Client) -> None:
    for ns in NAMESPACES:
        client.upsert(
            vectors=[
                {"id": vid, "values": corpus_vector(i), "metadata": corpus_metadata(i)}
                for i, vid in enumerate(IDS)
            ],
            namespace=ns,
        )


def _sql_checksum(conn: Any, index: str) -> Callable[[], Any]:
    def checksum() -> Any:
        table = pg_helpers.table_of(conn, index)
        return (
            pg_helpers.table_checksum(conn, table),
            pg_helpers.table_checksum(conn, _pgsql.REGISTRY),
        )

    return checksum


@pytest.fixture(params=["memory", "pgvector-url", "pgvector-django"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    index = f"bad-{uuid.uuid4().hex[:10]}"
    if request.param == "memory":
        client = Client(provider="memory", max_retries=0)
        client.create_index(index, dimension=DIM)
        _fill(client.bind(index=index))
        yield Store(client.bind(index=index), lambda: None)
        return
    if request.param == "pgvector-django":
        request.getfixturevalue("db")
        from django.db import connection

        client = Client(provider="pgvector", database="default", max_retries=0)
        client.create_index(index, dimension=DIM)
        _fill(client.bind(index=index))
        connection.ensure_connection()
        yield Store(client.bind(index=index), _sql_checksum(connection.connection, index))
        return  # the test's transaction is rolled back
    import psycopg

    url = pg_helpers.database_url(request)
    client = Client(provider="pgvector", url=url, pool_size=1, max_retries=0)
    client.create_index(index, dimension=DIM)
    try:
        _fill(client.bind(index=index))
        with psycopg.connect(url, autocommit=True) as admin:
            yield Store(client.bind(index=index), _sql_checksum(admin, index))
    finally:
        client.delete_index(index)
        client.close()


def snapshot(store: Store) -> dict[str, Any]:
    """Everything observable about the store: indexes, counts, every vector, the SQL checksum."""
    client = store.client
    vectors = {}
    for ns in NAMESPACES:
        fetched = client.fetch(ids=[*IDS, "never-written"], namespace=ns)
        vectors[ns] = {
            vid: (list(map(float, v.values)), v.metadata) for vid, v in sorted(fetched.items())
        }
    return {
        "indexes": client.list_indexes(),
        "description": client.describe_index(),
        "stats": client.stats(),
        "vectors": vectors,
        "sql": store.checksum(),
    }


def good(i: int = 100) -> dict[str, Any]:
    return {"id": f"new-{i}", "values": [0.1, 0.2, 0.3, 0.4], "metadata": {"ok": True}}


def vec(values: Any, vid: str = "new") -> list[dict[str, Any]]:
    return [{"id": vid, "values": values}]


Q = [1.0, 0.0, 0.0, 0.0]  # a valid query vector

# (call, what the message must name). Each call gets the bound client.
CLIENT_CASES = [
    # -- vectors
    pytest.param(lambda c: c.upsert(vectors=vec([1, 2, 3])), "dimension 3", id="short-vector"),
    pytest.param(lambda c: c.upsert(vectors=vec([1, 2, 3, 4, 5])), "dimension 5", id="long-vector"),
    pytest.param(lambda c: c.upsert(vectors=vec([1, NAN, 3, 4])), "NaN", id="nan"),
    pytest.param(lambda c: c.upsert(vectors=vec([1, INF, 3, 4])), "infinity", id="inf"),
    pytest.param(lambda c: c.upsert(vectors=vec([-INF, 0, 0, 0])), "infinity", id="minus-inf"),
    pytest.param(
        lambda c: c.upsert(vectors=vec([1e39, 0, 0, 0])),
        "infinity",
        id="float32-overflow",
        marks=pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning"),
    ),
    pytest.param(lambda c: c.upsert(vectors=vec([1, "a", 3, 4])), "number", id="letter-in-vector"),
    pytest.param(
        lambda c: c.upsert(vectors=vec("1,2,3,4")), "sequence of numbers", id="str-vector"
    ),
    pytest.param(
        lambda c: c.upsert(vectors=vec(b"\x00\x01\x02\x03")), "numbers", id="bytes-vector"
    ),
    pytest.param(lambda c: c.upsert(vectors=vec([1, None, 3, 4])), "number", id="none-in-vector"),
    pytest.param(
        lambda c: c.upsert(vectors=vec(["1", "2", "3", "4"])),
        "number",
        id="numeric-strings-in-vector",
    ),
    pytest.param(
        lambda c: c.upsert(vectors=vec([True, False, True, False])),
        "booleans",
        id="booleans-in-vector",
    ),
    pytest.param(lambda c: c.upsert(vectors=vec([1j, 0, 0, 0])), "number", id="complex-in-vector"),
    pytest.param(lambda c: c.upsert(vectors=vec({"a": 1})), "number", id="dict-as-vector"),
    pytest.param(lambda c: c.upsert(vectors=vec(None)), "number", id="none-vector"),
    pytest.param(lambda c: c.upsert(vectors=vec([])), "empty", id="empty-vector"),
    pytest.param(lambda c: c.upsert(vectors=vec([[1, 2], [3, 4]])), "2-D", id="matrix-as-vector"),
    pytest.param(
        lambda c: c.upsert(vectors=[good(1), {"id": "b", "values": [1, 2]}]),
        "dimension",
        id="ragged-batch",
    ),
    pytest.param(
        lambda c: c.upsert(vectors=[good(i) for i in range(99)] + vec([NAN] * 4, "last")),
        "'last'",
        id="one-bad-vector-at-the-end-of-a-batch",
    ),
    # -- ids
    pytest.param(lambda c: c.upsert(vectors=[good(1), good(1)]), "Duplicate", id="duplicate-ids"),
    pytest.param(lambda c: c.upsert(vectors=vec(Q, "")), "Invalid vector id", id="empty-id"),
    pytest.param(lambda c: c.upsert(vectors=vec(Q, "x" * 513)), "Invalid vector id", id="long-id"),
    pytest.param(lambda c: c.upsert(vectors=vec(Q, "a\x00b")), "NUL", id="nul-in-id"),
    pytest.param(lambda c: c.upsert(vectors=vec(Q, 7)), "must be a string", id="int-id"),
    pytest.param(lambda c: c.upsert(vectors=vec(Q, None)), "must be a string", id="none-id"),
    pytest.param(
        lambda c: c.upsert(vectors=vec(Q, uuid.UUID(int=1))), "must be a string", id="uuid-id"
    ),
    # -- batch shapes and wrong types
    pytest.param(lambda c: c.upsert(vectors={"id": "a", "values": Q}), "list", id="dict-batch"),
    pytest.param(lambda c: c.upsert(vectors=[]), "empty", id="empty-batch"),
    pytest.param(lambda c: c.upsert(vectors=[("a", Q)]), "dict or Vector", id="tuple-item"),
    pytest.param(lambda c: c.upsert(vectors=[{"id": "a"}]), "'values'", id="missing-values"),
    pytest.param(
        lambda c: c.upsert(vectors=[{"id": "a", "values": Q, "score": 1}]),
        "unknown keys",
        id="unknown-item-key",
    ),
    pytest.param(
        lambda c: c.upsert(vectors=[good()], ids=["a"], values=[Q]), "either", id="both-forms"
    ),
    pytest.param(
        lambda c: c.upsert(ids=["a", "b"], values=[Q]), "2 ids but 1 rows", id="ids-values-count"
    ),
    pytest.param(lambda c: c.upsert(ids=["a"], values=Q), "2-D", id="1d-values-for-ids"),
    pytest.param(
        lambda c: c.upsert(ids=["a"], values=[Q], metadata=[{}, {}]),
        "metadata entries",
        id="metadata-count",
    ),
    # -- metadata
    pytest.param(
        lambda c: c.upsert(vectors=[{**good(), "metadata": {"when": datetime.date(2024, 1, 1)}}]),
        "not JSON-serialisable",
        id="date-in-metadata",
    ),
    pytest.param(
        lambda c: c.upsert(vectors=[{**good(), "metadata": {"price": decimal.Decimal("1.5")}}]),
        "not JSON-serialisable",
        id="decimal-in-metadata",
    ),
    pytest.param(
        lambda c: c.upsert(vectors=[{**good(), "metadata": {"tags": {"a", "b"}}}]),
        "not JSON-serialisable",
        id="set-in-metadata",
    ),
    pytest.param(
        lambda c: c.upsert(vectors=[{**good(), "metadata": {"score": NAN}}]),
        "not JSON-serialisable",
        id="nan-in-metadata",
    ),
    pytest.param(
        lambda c: c.upsert(vectors=[{**good(), "metadata": {1: "one"}}]),
        "keys must be strings",
        id="int-metadata-key",
    ),
    pytest.param(
        lambda c: c.upsert(vectors=[{**good(), "metadata": ["a", "b"]}]),
        "must be a dict",
        id="list-metadata",
    ),
    pytest.param(
        lambda c: c.upsert(vectors=[{**good(), "metadata": {"self": object()}}]),
        "not JSON-serialisable",
        id="object-in-metadata",
    ),
    # -- names crafted as SQL injection, and wrong types
    pytest.param(lambda c: c.upsert(INJECTION, vectors=[good()]), "index name", id="index-inject"),
    pytest.param(lambda c: c.query('docs"; --', vector=Q), "index name", id="index-inject-quote"),
    pytest.param(lambda c: c.upsert("Docs", vectors=[good()]), "index name", id="index-upper"),
    pytest.param(lambda c: c.upsert("x" * 64, vectors=[good()]), "index name", id="index-long"),
    pytest.param(lambda c: c.upsert(42, vectors=[good()]), "index name", id="index-int"),
    pytest.param(
        lambda c: c.upsert(vectors=[good()], namespace=INJECTION), "namespace", id="ns-inject"
    ),
    pytest.param(
        lambda c: c.upsert(vectors=[good()], namespace="a" * 129), "namespace", id="ns-long"
    ),
    pytest.param(lambda c: c.upsert(vectors=[good()], namespace=5), "namespace", id="ns-int"),
    pytest.param(lambda c: c.stats(namespace="ns with space"), "namespace", id="ns-space"),
    pytest.param(
        lambda c: c.create_index(INJECTION, dimension=DIM), "index name", id="create-inject"
    ),
    pytest.param(lambda c: c.create_index("ok", dimension=0), "dimension", id="create-dim-0"),
    pytest.param(lambda c: c.create_index("ok", dimension=-3), "dimension", id="create-dim-neg"),
    pytest.param(
        lambda c: c.create_index("ok", dimension=10**6), "dimension", id="create-dim-huge"
    ),
    pytest.param(lambda c: c.create_index("ok", dimension="4"), "dimension", id="create-dim-str"),
    pytest.param(lambda c: c.create_index("ok", dimension=True), "dimension", id="create-dim-bool"),
    pytest.param(
        lambda c: c.create_index("ok", dimension=4, metric="hamming"), "metric", id="bad-metric"
    ),
    pytest.param(lambda c: c.delete_index(INJECTION), "index name", id="delete-index-inject"),
    # -- queries
    pytest.param(lambda c: c.query(vector=Q, top_k=0), "top_k", id="top-k-zero"),
    pytest.param(lambda c: c.query(vector=Q, top_k=-1), "top_k", id="top-k-negative"),
    pytest.param(lambda c: c.query(vector=Q, top_k=10**9), "top_k", id="top-k-huge"),
    pytest.param(lambda c: c.query(vector=Q, top_k=2.5), "top_k", id="top-k-float"),
    pytest.param(lambda c: c.query(vector=Q, top_k="10"), "top_k", id="top-k-str"),
    pytest.param(lambda c: c.query(vector=Q, top_k=True), "top_k", id="top-k-bool"),
    pytest.param(lambda c: c.query(vector=[1, 2]), "dimension 2", id="query-short"),
    pytest.param(lambda c: c.query(vector=[NAN] * 4), "NaN", id="query-nan"),
    pytest.param(lambda c: c.query(vector=["a"] * 4), "number", id="query-letters"),
    pytest.param(lambda c: c.query(vector=[]), "empty", id="query-empty"),
    pytest.param(lambda c: c.query(vector=[Q]), "one-dimensional", id="query-matrix"),
    pytest.param(lambda c: c.query(vector=Q, id="doc-1"), "exactly one", id="query-vector-and-id"),
    pytest.param(
        lambda c: c.query(vector=Q, score_threshold="0.5"), "score_threshold", id="threshold-str"
    ),
    pytest.param(
        lambda c: c.query(vector=Q, score_threshold=NAN), "score_threshold", id="threshold-nan"
    ),
    # -- filters
    pytest.param(
        lambda c: c.query(vector=Q, filter={"n": {"$regex": ".*"}}), "'\\$regex'", id="op-regex"
    ),
    pytest.param(lambda c: c.query(vector=Q, filter={"$not": [{"n": 1}]}), "'\\$not'", id="op-not"),
    pytest.param(
        lambda c: c.query(vector=Q, filter={"$gt": 1}), "inside a field", id="op-at-top-level"
    ),
    pytest.param(
        lambda c: c.query(vector=Q, filter={"n') OR 1=1; --": 1}), "filter key", id="key-inject"
    ),
    pytest.param(
        lambda c: c.query(vector=Q, filter={'n" = n OR "': 1}), "filter key", id="key-dquote"
    ),
    pytest.param(
        lambda c: c.query(vector=Q, filter={"n->>'x'": 1}), "filter key", id="key-json-path"
    ),
    pytest.param(lambda c: c.query(vector=Q, filter={"1n": 1}), "filter key", id="key-digit"),
    pytest.param(lambda c: c.query(vector=Q, filter={"": 1}), "filter key", id="key-empty"),
    pytest.param(lambda c: c.query(vector=Q, filter={"k" * 129: 1}), "filter key", id="key-long"),
    pytest.param(lambda c: c.query(vector=Q, filter={5: 1}), "keys must be strings", id="key-int"),
    pytest.param(
        lambda c: c.query(vector=Q, filter={"n": {"$eq": {"a": 1}}}), "'n'", id="dict-operand"
    ),
    pytest.param(lambda c: c.query(vector=Q, filter={"n": None}), "'n'", id="none-operand"),
    pytest.param(
        lambda c: c.query(vector=Q, filter={"n": {"$gt": "5"}}), "numbers only", id="range-str"
    ),
    pytest.param(
        lambda c: c.query(vector=Q, filter={"n": {"$lt": NAN}}), "numbers only", id="range-nan"
    ),
    pytest.param(
        lambda c: c.query(vector=Q, filter={"n": {"$gte": True}}), "numbers only", id="range-bool"
    ),
    pytest.param(
        lambda c: c.query(vector=Q, filter={"n": {"$in": []}}), "non-empty list", id="in-empty"
    ),
    pytest.param(
        lambda c: c.query(vector=Q, filter={"n": {"$in": "abc"}}), "non-empty list", id="in-str"
    ),
    pytest.param(
        lambda c: c.query(vector=Q, filter={"n": {"$nin": [[1]]}}), "'n'", id="nin-nested-list"
    ),
    pytest.param(
        lambda c: c.query(vector=Q, filter={"n": {"$exists": 1}}), "true or false", id="exists-int"
    ),
    pytest.param(lambda c: c.query(vector=Q, filter={"$or": []}), "non-empty list", id="or-empty"),
    pytest.param(
        lambda c: c.query(vector=Q, filter={"$and": {"n": 1}}), "non-empty list", id="and-dict"
    ),
    pytest.param(
        lambda c: c.query(vector=Q, filter={"$or": [{"n": 1}, "x"]}), "dict", id="or-str-child"
    ),
    pytest.param(lambda c: c.query(vector=Q, filter={"n": {}}), "empty operator", id="ops-empty"),
    pytest.param(
        lambda c: c.query(vector=Q, filter=[("n", 1)]), "must be a dict", id="list-filter"
    ),
    pytest.param(lambda c: c.query(vector=Q, filter="n = 1"), "must be a dict", id="sql-filter"),
    # -- fetch, update, delete
    pytest.param(lambda c: c.fetch(ids="doc-1"), "list of strings", id="fetch-str-ids"),
    pytest.param(lambda c: c.fetch(ids=[]), "must not be empty", id="fetch-no-ids"),
    pytest.param(lambda c: c.fetch(ids=["doc-1", None]), "must be a string", id="fetch-none-id"),
    pytest.param(lambda c: c.update(id="doc-1"), "metadata= and/or values=", id="update-nothing"),
    pytest.param(
        lambda c: c.update(id="doc-1", values=[1, 2]), "dimension 2", id="update-short-values"
    ),
    pytest.param(
        lambda c: c.update(id="doc-1", values=[INF, 0, 0, 0]), "infinity", id="update-inf"
    ),
    pytest.param(
        lambda c: c.update(id="doc-1", metadata={"at": datetime.datetime.now()}),
        "not JSON-serialisable",
        id="update-datetime",
    ),
    pytest.param(lambda c: c.update(id="", metadata={"a": 1}), "vector id", id="update-empty-id"),
    pytest.param(
        lambda c: c.update(id=["doc-1"], metadata={"a": 1}), "string", id="update-list-id"
    ),
    pytest.param(lambda c: c.delete(), "exactly one", id="delete-no-selector"),
    pytest.param(
        lambda c: c.delete(ids=["doc-1"], delete_all=True), "exactly one", id="delete-two-selectors"
    ),
    pytest.param(lambda c: c.delete(filter={}), "empty filter", id="delete-empty-filter"),
    pytest.param(
        lambda c: c.delete(filter={"n; DELETE FROM x": 1}), "filter key", id="delete-key-inject"
    ),
    pytest.param(lambda c: c.delete(ids=["doc-1", ""]), "vector id", id="delete-empty-id"),
]


@pytest.mark.parametrize(("call", "names"), CLIENT_CASES)
def test_bad_input_is_refused_and_leaves_the_store_unchanged(
    store: Store, call: Callable[[Client], Any], names: str
) -> None:
    before = snapshot(store)
    with pytest.raises(ValidationError, match=names):
        call(store.client)
    assert snapshot(store) == before


def test_bad_input_suite_is_large_enough() -> None:
    assert len(CLIENT_CASES) + len(ORM_SEARCH_CASES) + len(ORM_SAVE_CASES) >= 40


# -- the ORM ---------------------------------------------------------------------------------

ORM_SEARCH_CASES = [
    pytest.param({"vector": [1.0, 2.0]}, "dimension 2", id="search-short"),
    pytest.param({"vector": [1.0, NAN, 0.0]}, "NaN", id="search-nan"),
    pytest.param({"vector": [INF, 0.0, 0.0]}, "infinity", id="search-inf"),
    pytest.param({"vector": ["a", "b", "c"]}, "number", id="search-letters"),
    pytest.param({"vector": []}, "empty", id="search-empty"),
    pytest.param({"vector": None}, "vector", id="search-none"),
    pytest.param({"vector": [1.0, 0.0, 0.0], "limit": 0}, "top_k|limit", id="limit-zero"),
    pytest.param({"vector": [1.0, 0.0, 0.0], "limit": -5}, "top_k|limit", id="limit-negative"),
    pytest.param({"vector": [1.0, 0.0, 0.0], "limit": 10**7}, "top_k|limit", id="limit-huge"),
    pytest.param({"vector": [1.0, 0.0, 0.0], "limit": "10"}, "top_k|limit", id="limit-str"),
    pytest.param(
        {"vector": [1.0, 0.0, 0.0], "filter": {"status": {"$regex": "x"}}},
        "'\\$regex'",
        id="search-bad-op",
    ),
    pytest.param(
        {"vector": [1.0, 0.0, 0.0], "filter": {"title'); DROP TABLE x; --": "a"}},
        "filter key",
        id="search-key-inject",
    ),
    pytest.param(
        {"vector": [1.0, 0.0, 0.0], "filter": {"year": {"$gt": "2020"}}},
        "numbers only",
        id="search-range-str",
    ),
    pytest.param(
        {"vector": [1.0, 0.0, 0.0], "score_threshold": NAN},
        "score_threshold",
        id="search-threshold-nan",
    ),
]

ORM_SAVE_CASES = [
    pytest.param([1.0, 2.0], "dimension 2", id="save-short"),
    pytest.param([1.0, 2.0, 3.0, 4.0], "dimension 4", id="save-long"),
    pytest.param([1.0, NAN, 3.0], "NaN", id="save-nan"),
    pytest.param([1.0, 2.0, -INF], "infinity", id="save-inf"),
    pytest.param([1.0, "x", 3.0], "number", id="save-letter"),
    pytest.param([], "empty", id="save-empty"),
]


@pytest.fixture
def orm_rows(db) -> Iterator[dict[str, Any]]:
    from tests.testapp.models import Document, RemoteDocument

    Document.objects.create(title="a", category="x", embedding=[1.0, 0.0, 0.0])
    Document.objects.create(title="b", category="y", embedding=[0.0, 1.0, 0.0])
    RemoteDocument.objects.create(title="a", category="x", embedding=[1.0, 0.0, 0.0])
    return {"Document": Document, "RemoteDocument": RemoteDocument}


def orm_snapshot(models: dict[str, Any]) -> dict[str, Any]:
    from django.db import connection

    from vectra_django.client.registry import clients

    state: dict[str, Any] = {}
    for name, model in models.items():
        state[name] = sorted(
            (row["pk"], row["title"], tuple(row["embedding"] or ()))
            for row in model.objects.values("pk", "title", "embedding")
        )
        connection.ensure_connection()
        state[f"{name}-sql"] = pg_helpers.table_checksum(
            connection.connection, model._meta.db_table
        )
    remote = clients["memory"]
    index = models["RemoteDocument"]._meta.get_field("embedding").index_name
    state["remote-index"] = remote.stats(index) if remote.index_exists(index) else None
    return state


@pytest.mark.parametrize("model", ["Document", "RemoteDocument"])
@pytest.mark.parametrize(("kwargs", "names"), ORM_SEARCH_CASES)
def test_vector_search_refuses_bad_input_and_changes_nothing(
    orm_rows: dict[str, Any], model: str, kwargs: dict[str, Any], names: str
) -> None:
    before = orm_snapshot(orm_rows)
    with pytest.raises(ValidationError, match=names):
        list(orm_rows[model].objects.vector_search(**kwargs))
    assert orm_snapshot(orm_rows) == before


@pytest.mark.parametrize("model", ["Document", "RemoteDocument"])
@pytest.mark.parametrize(("value", "names"), ORM_SAVE_CASES)
def test_saving_a_bad_vector_is_refused_and_changes_nothing(
    orm_rows: dict[str, Any], model: str, value: Any, names: str
) -> None:
    from django.db import transaction

    before = orm_snapshot(orm_rows)
    existing = orm_rows[model].objects.order_by("pk").first()
    with pytest.raises(ValidationError, match=names), transaction.atomic():
        existing.embedding = value
        existing.save()
    with pytest.raises(ValidationError, match=names), transaction.atomic():
        orm_rows[model].objects.create(title="new", embedding=value)
    assert orm_snapshot(orm_rows) == before


# -- property: generated filter trees on real pgvector ------------------------------------

FIELD_KEYS = ["n", "half", "even", "tag", "name", "nested", "missing"]
HOSTILE_KEYS = ["n'", 'n"', "n;", "n--", "n) OR (1=1", "$n", "n n", "", "ñ", "N", "_x1"]
HOSTILE_OPERATORS = ["$regex", "$like", "$not", "$nor", "$eq;", "eq", "$IN", "$in'"]
NUMBERS = st.one_of(st.integers(-1, 8), st.sampled_from([0.5, 1.5, -2.5, 3.0, 1e300, -0.0]))
SCALARS = st.one_of(
    NUMBERS,
    st.sampled_from(["a", "b", "c", "O'Brien 3", "'; DROP TABLE vectra_indexes; --", '"', "\\"]),
    st.booleans(),
)
SCALAR_LISTS = st.lists(SCALARS, min_size=1, max_size=3)
OPERAND_FOR = {
    "$eq": SCALARS,
    "$ne": SCALARS,
    "$in": SCALAR_LISTS,
    "$nin": SCALAR_LISTS,
    "$gt": NUMBERS,
    "$gte": NUMBERS,
    "$lt": NUMBERS,
    "$lte": NUMBERS,
    "$exists": st.booleans(),
}
# Values no operator accepts: None, NaN, infinities, dicts, nested or empty lists, strings
# where numbers are due (by pairing any operand with any operator).
ODD_OPERANDS = st.one_of(
    st.none(),
    st.sampled_from([NAN, INF, -INF]),
    st.dictionaries(st.sampled_from(["k", "$eq"]), SCALARS, max_size=1),
    st.lists(st.lists(SCALARS, max_size=1), max_size=2),
)
ANY_OPERAND = st.one_of(SCALARS, SCALAR_LISTS, ODD_OPERANDS)
VALID_CONDITION = st.sampled_from(sorted(OPERAND_FOR)).flatmap(
    lambda op: OPERAND_FOR[op].map(lambda value: {op: value})
)
HOSTILE_CONDITION = st.one_of(
    st.dictionaries(
        st.sampled_from(sorted(OPERAND_FOR) + HOSTILE_OPERATORS), ANY_OPERAND, max_size=2
    ),
    ODD_OPERANDS,
)
CONDITIONS = st.one_of(VALID_CONDITION, VALID_CONDITION, SCALARS, SCALAR_LISTS, HOSTILE_CONDITION)
KEYS = st.one_of(
    st.sampled_from(FIELD_KEYS),
    st.sampled_from(FIELD_KEYS),
    st.sampled_from(FIELD_KEYS),
    st.sampled_from(HOSTILE_KEYS),
    st.text(alphabet="ab_'\";-() $1", max_size=6),
)
VALID_LEAVES = st.dictionaries(
    st.sampled_from(FIELD_KEYS),
    st.one_of(VALID_CONDITION, VALID_CONDITION, SCALARS, SCALAR_LISTS),
    min_size=1,
    max_size=1,
)
ANY_LEAVES = st.dictionaries(KEYS, CONDITIONS, min_size=1, max_size=2)


def _valid_logical(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    node = st.builds(
        lambda op, items: {op: items},
        st.sampled_from(["$and", "$or", "$or"]),
        st.lists(children, min_size=1, max_size=3),
    )
    return st.one_of(node, st.builds(lambda a, b: {**a, **b}, VALID_LEAVES, node))


def _any_logical(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    hostile = st.dictionaries(
        st.sampled_from(["$and", "$or", "$not", "$xor", "$AND"]),
        st.one_of(st.lists(children, max_size=2), children, SCALARS),
        min_size=1,
        max_size=2,
    )
    return st.one_of(_valid_logical(children), hostile)


# Two in three trees are well-formed (they must run and match the reference exactly); the
# rest mix in hostile keys, operators and operands anywhere (they must be refused cleanly).
FILTER_TREES = st.one_of(
    st.recursive(VALID_LEAVES, _valid_logical, max_leaves=6),
    st.recursive(VALID_LEAVES, _valid_logical, max_leaves=6),
    st.recursive(ANY_LEAVES, _any_logical, max_leaves=4),
)


@pytest.fixture
def filter_store(request: pytest.FixtureRequest) -> Iterator[tuple[Client, Callable[[], Any]]]:
    import psycopg

    url = pg_helpers.database_url(request)
    index = f"prop-{uuid.uuid4().hex[:10]}"
    client = Client(provider="pgvector", url=url, pool_size=1, max_retries=0)
    client.create_index(index, dimension=DIM, index_type="none")  # exact: every match counts
    bound = client.bind(index=index)
    try:
        _fill(bound)
        with psycopg.connect(url, autocommit=True) as admin:
            yield bound, _sql_checksum(admin, index)
    finally:
        client.delete_index(index)
        client.close()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=FILTER_TREES)
def test_generated_filters_are_refused_or_match_the_reference_on_pgvector(
    filter_store: tuple[Client, Callable[[], Any]], spec: dict[str, Any]
) -> None:
    client, checksum = filter_store
    before = checksum()
    try:
        node = filters.parse(spec)
    except ValidationError:
        with pytest.raises(ValidationError):
            client.query(vector=Q, top_k=len(IDS), filter=spec)
        with pytest.raises(ValidationError):
            client.delete(filter=spec)
        assert checksum() == before
        return
    expected = {vid for i, vid in enumerate(IDS) if filters.evaluate(node, corpus_metadata(i))}
    got = client.query(vector=Q, top_k=len(IDS), filter=spec)
    assert {m.id for m in got} == expected, spec
    assert checksum() == before
