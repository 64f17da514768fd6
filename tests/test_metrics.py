from __future__ import annotations

import math

import pytest

from vectra_django.client.distance import distance_from_score, score_from_distance


@pytest.mark.parametrize(
    ("metric", "distance", "score"),
    [("cosine", 0.25, 0.75), ("euclidean", 3.0, 0.25), ("dotproduct", -4.0, 4.0)],
)
def test_score_and_distance_round_trip(metric, distance, score) -> None:
    assert score_from_distance(metric, distance) == pytest.approx(score)
    assert distance_from_score(metric, score) == pytest.approx(distance)


def test_euclidean_non_positive_score_threshold_means_any_distance() -> None:
    assert distance_from_score("euclidean", 0.0) == math.inf
