"""Encoder families through Transformer, against sentence-transformers; the seed's plain-transformers code."""

from __future__ import annotations

from pathlib import Path

import pytest
import sentence_transformers as st
import torch

from sentkit import SentenceTransformer, models
from sentkit.errors import ConfigurationError
from tests.reference import TEXTS, max_abs_diff
from tests.tiny_families import FAMILIES, build_family


@pytest.fixture(scope="module")
def family_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {family: build_family(family, root / family) for family in FAMILIES}


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("pooling_mode", ["mean", "cls"])
def test_family_matches_reference(family_checkpoints: dict[str, Path], family: str, pooling_mode: str) -> None:
    checkpoint = str(family_checkpoints[family])
    from sentence_transformers.base.modules import Transformer as ReferenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling as ReferencePooling

    reference = st.SentenceTransformer(
        modules=[ReferenceTransformer(checkpoint), ReferencePooling(32, pooling_mode=pooling_mode)], device="cpu"
    )
    ours = SentenceTransformer(
        modules=[models.Transformer(checkpoint), models.Pooling(32, pooling_mode=pooling_mode)], device="cpu"
    )
    assert ours.max_seq_length == reference.max_seq_length
    assert max_abs_diff(ours.encode(TEXTS), reference.encode(TEXTS)) <= 1e-5


def _seed_mean_pooling(model_output, attention_mask):
    # The seed's "Sentence Embeddings with Transformers" function, as published.
    token_embeddings = model_output[0]
    input_mask_expanded = attention_mask.unsqueeze(-1).expand(token_embeddings.size()).float()
    sum_embeddings = torch.sum(token_embeddings * input_mask_expanded, 1)
    sum_mask = torch.clamp(input_mask_expanded.sum(1), min=1e-9)
    return sum_embeddings / sum_mask


@pytest.mark.parametrize("family", ["bert", "modernbert"])
def test_plain_transformers_code_gives_the_same_vectors(hf_checkpoints: dict[str, Path], family: str) -> None:
    from transformers import AutoModel, AutoTokenizer

    checkpoint = hf_checkpoints[family]
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModel.from_pretrained(checkpoint)
    sentences = TEXTS[:4]
    encoded = tokenizer(sentences, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        output = model(**encoded)
    mean_by_hand = _seed_mean_pooling(output, encoded["attention_mask"])
    cls_by_hand = output.last_hidden_state[:, 0]  # the ModernBERT seed's [CLS] embedding

    mean_pipeline = SentenceTransformer(checkpoint, device="cpu")
    mean_pipeline.max_seq_length = 128
    cls_pipeline = SentenceTransformer(
        modules=[models.Transformer(checkpoint, max_seq_length=128), models.Pooling(32, "cls")], device="cpu"
    )
    assert max_abs_diff(mean_pipeline.encode(sentences, convert_to_tensor=True), mean_by_hand) <= 1e-5
    assert max_abs_diff(cls_pipeline.encode(sentences, convert_to_tensor=True), cls_by_hand) <= 1e-5


def test_modernbert_takes_its_full_8192_token_context(tmp_path: Path) -> None:
    from transformers import ModernBertConfig, ModernBertModel

    from tests.tiny_models import _save_bytelevel

    torch.manual_seed(0)
    config = ModernBertConfig(
        vocab_size=400,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=8192,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        cls_token_id=0,
        sep_token_id=2,
        global_attn_every_n_layers=1,
        local_attention=64,
    )
    ModernBertModel(config).save_pretrained(tmp_path)
    _save_bytelevel(tmp_path, model_max_length=8192)
    model = SentenceTransformer(
        modules=[models.Transformer(tmp_path), models.Pooling(16, pooling_mode="cls")], device="cpu"
    )
    assert model.max_seq_length == 8192
    with pytest.raises(ConfigurationError, match="exceeds the 8192 tokens"):
        model.max_seq_length = 8193
    long_text = "the weather is lovely today and " * 2000
    features = model.tokenize([long_text])
    assert features["input_ids"].shape == (1, 8192)
    embedding = model.encode(long_text)
    assert embedding.shape == (16,)
    assert bool(torch.isfinite(torch.from_numpy(embedding)).all())
