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


class ReweightedEmbedder(HashingEmbedder):
    """Another model, as far as stored vectors go: other weights give other vectors."""

    def __init__(self, dimension: int = DIMENSIONS) -> None:
        super().__init__(dimension, bigram_weight=3.0, trigram_weight=0.0)
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return super().embed(texts)


class DyingEmbedder(ReweightedEmbedder):
    """The same model, in a process that is killed (SIGKILL) at its third batch."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import os
        import signal

        if self.calls == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().embed(texts)


class WideEmbedder(HashingEmbedder):
    """A model of another dimension than the test fields'."""

    def __init__(self) -> None:
        super().__init__(DIMENSIONS * 2)


reweighted = ReweightedEmbedder()
