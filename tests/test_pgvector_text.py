"""Keyword and hybrid search in pgvector index tables: the stored tsvector, its GIN index,
one statement per search, and tables made before records carried text."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from psycopg import sql

from tests.test_pgvector_provider import ClientFactory, StatementCounter
from vectra_django import Client, errors
from vectra_django.providers.pgvector.sql import Table

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


@pytest.fixture
def name() -> str:
    return f"pt-{uuid.uuid4().hex[:10]}"


def corpus(rows: int, dimension: int = 8, seed: int = 3) -> list[dict]:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, dimension))
    return [
        {
            "id": f"r{i}",
            "values": values[i].tolist(),
            "metadata": {"group": i % 3},
            "text": " ".join(WORDS[(i + j) % len(WORDS)] for j in range(3)),
        }
        for i in range(rows)
    ]


def table_of(client: Client, name: str) -> Table:
    provider = client.provider
    with provider._session(name) as tx:  # type: ignore[attr-defined]
        return provider._table(tx, name)  # type: ignore[attr-defined]


def explain(client: Client, statement: str, params: list) -> str:
    rows = client.provider.execute("EXPLAIN " + statement, params)  # type: ignore[attr-defined]
    return "\n".join(row[0] for row in rows)


def test_copy_path_keeps_each_record_text(url_client: ClientFactory, name: str) -> None:
    client = url_client()
    client.create_index(name, dimension=8)
    records = corpus(200)  # past the multi-row INSERT: binary COPY
    client.upsert(name, records)
    fetched = client.fetch(name, ["r0", "r199"])
    assert fetched["r0"].text == records[0]["text"]
    assert fetched["r199"].text == records[199]["text"]
    client.upsert(name, records)  # the merge path (stored ids) keeps text too
    assert client.fetch(name, ["r5"])["r5"].text == records[5]["text"]


def test_upsert_without_text_replaces_the_text(url_client: ClientFactory, name: str) -> None:
    client = url_client()
    client.create_index(name, dimension=8)
    client.upsert(name, corpus(2))
    client.upsert(name, [{"id": "r0", "values": [1.0] * 8}])
    assert client.fetch(name, ["r0"])["r0"].text is None
    assert "r0" not in client.text_search(name, "alpha").ids


def test_keyword_leg_uses_the_gin_index(url_client: ClientFactory, name: str) -> None:
    from vectra_django.client.requests import TextRequest
    from vectra_django.providers.pgvector.text import text_statement

    client = url_client()
    client.create_index(name, dimension=8)
    client.upsert(name, corpus(3000))
    client.provider.execute(f'ANALYZE "vectra_{name}"')  # type: ignore[attr-defined]
    table = table_of(client, name)
    statement, params = text_statement(table, TextRequest(text="alpha bravo", top_k=10))
    plan = explain(client, statement, params)
    assert f'Bitmap Index Scan on "vectra_{name}_text_search_idx"' in plan, plan
    assert "Seq Scan" not in plan, plan


def test_hybrid_search_is_one_statement(
    url_client: ClientFactory, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = url_client()
    client.create_index(name, dimension=8)
    records = corpus(50)
    client.upsert(name, records)
    client.hybrid_search(name, "echo", records[0]["values"])  # caches registry and session
    counter = StatementCounter(monkeypatch)
    result = client.hybrid_search(name, "hotel", records[7]["values"], top_k=5)
    monkeypatch.undo()
    searches = [s for s in counter.statements if "websearch_to_tsquery" in s]
    assert len(searches) == 1 and "<=>" in searches[0], counter.statements
    assert [s for s in counter.statements if "set_config" not in s] == searches
    assert result.scores == sorted(result.scores, reverse=True)
    r7 = next(m for m in result if m.id == "r7")  # the nearest, and it has the word
    assert r7.vector_score == pytest.approx(1.0) and r7.text_score is not None


def test_text_config_simple_keeps_stopwords(url_client: ClientFactory, name: str) -> None:
    client = url_client()
    client.create_index(name, dimension=2, text_config="simple")
    client.upsert(name, [{"id": "a", "values": [1, 0], "text": "the who"}])
    assert client.text_search(name, "the").ids == ["a"]
    client.delete_index(name)
    client.create_index(name, dimension=2)  # english: "the" is a stop word
    client.upsert(name, [{"id": "a", "values": [1, 0], "text": "the who"}])
    assert client.text_search(name, "the").ids == []


def test_unknown_text_config_is_refused(url_client: ClientFactory, name: str) -> None:
    client = url_client()
    with pytest.raises(errors.ValidationError, match="text_config"):
        client.create_index(name, dimension=2, text_config="no such; config")
    with pytest.raises(errors.VectraError, match="klingon"):
        client.create_index(name, dimension=2, text_config="klingon")
    assert name not in client.list_indexes()


@pytest.mark.parametrize("text", ["&|!():*'", "a & b | !c", "'quoted", "-", "(((", "fox:*"])
def test_tsquery_syntax_characters_are_plain_search(
    url_client: ClientFactory, name: str, text: str
) -> None:
    client = url_client()
    client.create_index(name, dimension=2)
    client.upsert(name, [{"id": "a", "values": [1, 0], "text": "a b c fox"}])
    assert isinstance(client.text_search(name, text).ids, list)
    assert isinstance(client.hybrid_search(name, text, [1, 0]).ids, list)


def test_table_without_text_columns_gets_them_on_first_text(
    url_client: ClientFactory, name: str
) -> None:
    client = url_client()
    client.create_index(name, dimension=2)
    provider = client.provider
    # A table as made before records carried text.
    table = f'"vectra_{name}"'
    provider.execute(f"ALTER TABLE {table} DROP COLUMN text_search, DROP COLUMN text")  # type: ignore[attr-defined]
    provider.execute(  # type: ignore[attr-defined]
        "UPDATE vectra_indexes SET options = options - 'text_config' WHERE name = %s", [name]
    )
    provider._tables.clear()  # type: ignore[attr-defined]
    client.upsert(name, [{"id": "old", "values": [1, 0]}])
    assert client.text_search(name, "anything").ids == []
    assert client.hybrid_search(name, "anything", [1, 0]).ids == ["old"]
    client.upsert(name, [{"id": "new", "values": [0, 1], "text": "zebra"}])
    assert client.text_search(name, "zebra").ids == ["new"]
    assert client.describe_index(name)["options"]["text_config"] == "english"
    assert client.fetch(name, ["old"])["old"].text is None


def test_hybrid_returns_exact_leg_scores(url_client: ClientFactory, name: str) -> None:
    client = url_client()
    client.create_index(name, dimension=2)
    client.upsert(
        name,
        [
            {"id": "near", "values": [1, 0], "text": "nothing here"},
            {"id": "word", "values": [0, 1], "text": "zebra crossing"},
            {"id": "both", "values": [1, 0.1], "text": "zebra"},
        ],
    )
    result = client.hybrid_search(name, "zebra", [1, 0], top_k=3)  # second + first beats first
    assert result.ids[0] == "both"
    by_id = {m.id: m for m in result}
    assert by_id["near"].text_score is None
    assert by_id["near"].vector_score == pytest.approx(1.0)
    assert by_id["word"].vector_score == pytest.approx(0.0, abs=1e-6)
    assert by_id["word"].text_score > 0


def test_error_text_config_sql_is_a_literal(url_client: ClientFactory, name: str) -> None:
    client = url_client()
    client.create_index(name, dimension=2)
    table = table_of(client, name)
    from vectra_django.providers.pgvector.sql import text_columns

    assert "'english'" in text_columns(table).as_string()
    assert isinstance(text_columns(table), sql.Composed)
