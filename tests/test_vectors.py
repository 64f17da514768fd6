from __future__ import annotations

import numpy as np
import pytest

from vectra_django.client.distance import (
    cosine_similarity,
    dot_product,
    euclidean_distance,
    normalize,
)
from vectra_django.errors import ValidationError


def test_normalize_gives_unit_length() -> None:
    assert np.linalg.norm(normalize([3.0, 4.0])) == pytest.approx(1.0)
    assert normalize([3.0, 4.0]).tolist() == pytest.approx([0.6, 0.8])


def test_normalize_matrix_row_by_row_and_keeps_zero_rows() -> None:
    out = normalize([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_cosine_similarity_of_two_vectors() -> None:
    assert cosine_similarity([1, 0], [0, 1]) == pytest.approx(0.0)
    assert cosine_similarity([1, 1], [2, 2]) == pytest.approx(1.0)
    assert cosine_similarity([1, 0], [-1, 0]) == pytest.approx(-1.0)


def test_cosine_similarity_against_a_matrix() -> None:
    out = cosine_similarity([1, 0], [[1, 0], [0, 1], [1, 1]])
    assert out.tolist() == pytest.approx([1.0, 0.0, np.sqrt(0.5)])


def test_euclidean_distance() -> None:
    assert euclidean_distance([0, 0], [3, 4]) == pytest.approx(5.0)
    assert euclidean_distance([0, 0], [[3, 4], [0, 1]]).tolist() == pytest.approx([5.0, 1.0])


def test_dot_product() -> None:
    assert dot_product([1, 2], [3, 4]) == pytest.approx(11.0)


@pytest.mark.parametrize("bad", [[], [[[1.0]]], 5.0])
def test_helpers_reject_bad_shapes(bad) -> None:
    with pytest.raises(ValidationError, match="shape"):
        normalize(bad)
