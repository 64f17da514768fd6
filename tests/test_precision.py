"""halfvec storage and binary quantization on the pgvector provider (client side)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import psycopg
import pytest

from tests import pg_helpers
from tests.contract.pgvector_providers import url_for_test_database
from vectra_django import Client, errors
from vectra_django.postgres import max_indexed_dimensions, require_pgvector

ClientFactory = Callable[..., Client]


@pytest.fixture
def url(request: pytest.FixtureRequest) -> str:
    return url_for_test_database(request)


@pytest.fixture
def client(url: str) -> Iterator[Client]:
    made = Client(provider="pgvector", url=url, max_retries=0)
    yield made
    for index in made.list_indexes():
        if index.startswith("pq-"):
            made.delete_index(index)
    made.close()


@pytest.fixture
def name() -> str:
    return f"pq-{uuid.uuid4().hex[:10]}"


def unit_rows(rows: int, dimension: int, seed: int = 0) -> np.ndarray:
    matrix = np.random.default_rng(seed).standard_normal((rows, dimension)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def column_type(url: str, client: Client, index: str) -> str:
    table = client.describe_index(index)["table"]
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attname = 'embedding'",
            [table],
        ).fetchone()
    assert row is not None
    return row[0]


def test_half_precision_stores_halfvec_and_answers_queries(
    client: Client, name: str, url: str
) -> None:
    client.create_index(name, dimension=32, precision="half")
    assert client.describe_index(name)["options"]["precision"] == "half"
    assert column_type(url, client, name) == "halfvec(32)"
    matrix = unit_rows(300, 32)
    client.upsert(name, ids=[f"r{i}" for i in range(300)], values=matrix)
    hit = client.query(name, vector=matrix[42], top_k=3)
    assert hit.ids[0] == "r42"
    assert hit[0].score == pytest.approx(1.0, abs=1e-3)  # float16 rounding, not more
    stored = client.fetch(name, ["r42"])["r42"].values
    assert stored == pytest.approx(matrix[42].astype(np.float16).tolist())


def test_halfvec_true_still_means_half_precision(client: Client, name: str, url: str) -> None:
    client.create_index(name, dimension=8, halfvec=True)
    assert column_type(url, client, name) == "halfvec(8)"


def test_precision_and_halfvec_must_agree(client: Client, name: str) -> None:
    with pytest.raises(errors.ValidationError, match="disagree"):
        client.create_index(name, dimension=8, precision="single", halfvec=True)
    assert name not in client.list_indexes()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"precision": "double"}, "precision must be one of"),
        ({"quantization": "product"}, "quantization must be one of"),
        ({"quantization": "binary", "index_type": "ivfflat"}, "needs index_type='hnsw'"),
        ({"quantization": "binary", "metric": "euclidean"}, "cannot serve metric 'euclidean'"),
        ({"quantization": "binary", "metric": "dotproduct"}, "needs metric='cosine'"),
    ],
)
def test_bad_precision_or_quantization_creates_nothing(
    client: Client, name: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(errors.ValidationError, match=message):
        client.create_index(name, dimension=8, **options)
    assert name not in client.list_indexes()


def test_more_than_2000_dimensions_need_half_precision(client: Client, name: str, url: str) -> None:
    with pytest.raises(errors.ValidationError, match="at most 2,000 dimensions"):
        client.create_index(name, dimension=3072)
    assert name not in client.list_indexes()
    client.create_index(name, dimension=3072, precision="half")
    matrix = unit_rows(50, 3072)
    client.upsert(name, ids=[f"r{i}" for i in range(50)], values=matrix)
    assert client.query(name, vector=matrix[7], top_k=1).ids == ["r7"]
    assert "Index Scan" in pg_helpers.explain_query(url, client, name, matrix[7])


def test_half_precision_stops_at_4000_dimensions(client: Client, name: str) -> None:
    with pytest.raises(errors.ValidationError, match="at most 4,000 dimensions"):
        client.create_index(name, dimension=4096, precision="half")
    client.create_index(name, dimension=4096, index_type="none", precision="half")
    assert name in client.list_indexes()


def test_binary_quantization_reranks_candidates_to_exact_scores(
    client: Client, name: str, url: str
) -> None:
    client.create_index(name, dimension=256, quantization="binary")
    matrix = unit_rows(2000, 256, seed=4)
    client.upsert(name, ids=[f"r{i}" for i in range(2000)], values=matrix)
    query = matrix[11] + 0.05 * unit_rows(1, 256, seed=5)[0]
    result = client.query(name, vector=query, top_k=10)
    assert result.ids[0] == "r11"
    exact = {f"r{i}": float(s) for i, s in enumerate(matrix @ (query / np.linalg.norm(query)))}
    for match in result:
        assert match.score == pytest.approx(exact[match.id], abs=1e-5)  # exact, not Hamming
    assert result.scores == sorted(result.scores, reverse=True)
    plan = pg_helpers.explain_query(url, client, name, query)
    assert "Index Scan" in plan and "binary_quantize" in plan


def test_binary_quantization_with_a_filter_and_a_threshold(client: Client, name: str) -> None:
    client.create_index(name, dimension=64, quantization="binary")
    matrix = unit_rows(500, 64, seed=6)
    client.upsert(
        name,
        ids=[f"r{i}" for i in range(500)],
        values=matrix,
        metadata=[{"even": i % 2 == 0} for i in range(500)],
    )
    result = client.query(name, vector=matrix[3], top_k=5, filter={"even": False})
    assert result.ids[0] == "r3" and len(result) == 5
    assert all(int(vid[1:]) % 2 for vid in result.ids)
    bounded = client.query(name, vector=matrix[3], top_k=5, score_threshold=0.999)
    assert bounded.ids == ["r3"]


def test_candidates_option(client: Client, name: str) -> None:
    client.create_index(name, dimension=64, quantization="binary")
    matrix = unit_rows(200, 64, seed=7)
    client.upsert(name, ids=[f"r{i}" for i in range(200)], values=matrix)
    assert client.query(name, vector=matrix[0], top_k=5, candidates=200).ids[0] == "r0"
    with pytest.raises(errors.ValidationError, match="candidates"):
        client.query(name, vector=matrix[0], top_k=5, candidates=3)
    client.create_index("pq-plain-" + name[3:], dimension=64)
    with pytest.raises(errors.ValidationError, match="binary-quantized indexes only"):
        client.query("pq-plain-" + name[3:], vector=matrix[0], top_k=5, candidates=50)


def test_pgvector_versions() -> None:
    require_pgvector("0.8.1", "halfvec")
    require_pgvector("0.7.0", "binary_quantize")
    with pytest.raises(errors.ValidationError, match=r"halfvec needs pgvector 0\.7\.0.*0\.6\.2"):
        require_pgvector("0.6.2", "halfvec")
    with pytest.raises(errors.ValidationError, match="no vector extension"):
        require_pgvector(None, "binary_quantize")
    assert max_indexed_dimensions("single", None)[0] == 2000
    assert max_indexed_dimensions("half", None)[0] == 4000
    assert max_indexed_dimensions("single", "binary")[0] == 64000
