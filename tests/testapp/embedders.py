"""Embedders for the test models: a hashing embedder that records what it is asked to embed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vectra_django.embedders import HashingEmbedder

DIMENSIONS = 8


class CountingEmbedder(HashingEmbedder):
    """Records every batch it embeds, so tests can count embedder calls."""

    def __init__(self, dimension: int = DIMENSIONS) -> None:
        super().__init__(dimension)
        self.batches: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return super().embed(texts)

    @property
    def texts(self) -> list[str]:
        return [text for batch in self.batches for text in batch]


counting = CountingEmbedder()
