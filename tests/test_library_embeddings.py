"""Embeddings with the default chat model (mean pooling) and cosine similarity."""

import numpy as np
import pytest

from assistant import Model
from assistant.catalog import ModelStore
from assistant.llm.embeddings import EmbeddingGenerator, cosine_similarity


@pytest.fixture(scope="module")
def generator() -> EmbeddingGenerator:
    return EmbeddingGenerator(Model.load(ModelStore().resolve("llm").path), n_ctx=256)


def test_shape_dtype_and_norm(generator: EmbeddingGenerator) -> None:
    vector = generator.embed("The cat sat on the mat.")
    assert vector.shape == (generator.n_embd,) == (576,)
    assert vector.dtype == np.float32
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-4)


def test_related_sentences_score_higher_than_unrelated(generator: EmbeddingGenerator) -> None:
    cat, kitten, stocks = generator.embed_batch(
        [
            "The cat sat on the mat.",
            "A kitten is sitting on a rug.",
            "Stock markets fell sharply on Tuesday.",
        ]
    )
    assert cosine_similarity(cat, kitten) > cosine_similarity(cat, stocks)


def test_batch_equals_one_by_one_and_keeps_order(generator: EmbeddingGenerator) -> None:
    texts = [f"Sentence {i} about {'dogs' if i % 2 else 'planets'}." for i in range(20)]
    batch = generator.embed_batch(texts)
    single = [generator.embed(t) for t in texts]
    assert len(batch) == 20
    for a, b in zip(batch, single, strict=True):
        assert float(np.abs(a - b).max()) < 0.02


def test_cosine_similarity_checks_lengths() -> None:
    assert cosine_similarity([1.0, 0.0], [2.0, 0.0]) == pytest.approx(1.0)
    assert cosine_similarity([1.0, 0.0], [0.0, 3.0]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="different lengths"):
        cosine_similarity([1.0, 2.0], [1.0, 2.0, 3.0])


def test_more_texts_than_one_call_takes(generator: EmbeddingGenerator) -> None:
    texts = [f"Note {i}." for i in range(40)]  # 16 texts per llama.cpp call: three calls
    vectors = generator.embed_batch(texts)
    assert len(vectors) == 40 and all(v.shape == (576,) for v in vectors)
    assert float(np.abs(vectors[39] - generator.embed("Note 39.")).max()) < 0.02
