"""Contract tests over every registered module: a module is covered the moment it registers.

Each registered short name needs a builder in ``CONTRACT_PIPELINES`` (the first test fails
otherwise). For each: save then load gives identical outputs and configs, every trainable
parameter receives a gradient, outputs have no NaN, and a text gets the same embedding alone and
inside a batch of mixed lengths.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoTokenizer

import sentkit.models as models
from sentkit import SentenceTransformer
from sentkit.encoders.pipeline import walk
from sentkit.modules import Module, registered_modules
from sentkit.modules.mlm_transformer import MLMTransformer
from sentkit.modules.sparse_static_embedding import SparseStaticEmbedding
from sentkit.modules.splade_pooling import SpladePooling
from tests.module_builders import pipeline
from tests.reference import max_abs_diff
from tests.tiny_models import build_tiny_clip, wordpiece_tokenizer

TEXTS = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "Hurricanes draw their energy from warm ocean water, and meteorologists track them with satellites.",
    "A cat and a dog in the garden.",
]
# Parameters the pipeline does not use by design: BERT's pooler head (token embeddings skip it);
# CLIP's vision tower and logit scale (the contract feeds texts).
UNUSED_BY_DESIGN = (".pooler.", "vision_model.", "visual_projection.", "logit_scale")

Builder = Callable[[dict[str, Path]], list[Any]]


def _transformer(checkpoints: dict[str, Path]) -> Any:
    return models.Transformer(checkpoints["bert"], max_seq_length=32)


CONTRACT_PIPELINES: dict[str, tuple[Builder, list[str | None]]] = {
    "transformer": (lambda c: [_transformer(c), models.Pooling(32)], [None]),
    "pooling": (lambda c: [_transformer(c), models.Pooling(32, pooling_mode=("cls", "max", "weightedmean"))], [None]),
    "dense": (lambda c: pipeline(models, "word_weights"), [None]),
    "word_weights": (lambda c: pipeline(models, "word_weights"), [None]),
    "word_embeddings": (lambda c: pipeline(models, "word_weights"), [None]),
    "normalize": (lambda c: pipeline(models, "bow"), [None]),
    "bow": (lambda c: pipeline(models, "bow"), [None]),
    "cnn": (lambda c: pipeline(models, "cnn"), [None]),
    "lstm": (lambda c: pipeline(models, "lstm"), [None]),
    "dropout": (lambda c: pipeline(models, "layer_norm"), [None]),
    "layer_norm": (lambda c: pipeline(models, "layer_norm"), [None]),
    "router": (lambda c: pipeline(models, "router_first", c["bert"]), ["query", "document"]),
    "weighted_layer_pooling": (lambda c: pipeline(models, "weighted_layer_pooling", c["bert"]), [None]),
    "wk_pooling": (lambda c: [_transformer(c), models.WKPooling(32, layer_start=1, context_window_size=1)], [None]),
    "static_embedding": (lambda c: [models.StaticEmbedding(wordpiece_tokenizer(), embedding_dim=8)], [None]),
    "mlm_transformer": (lambda c: [MLMTransformer(c["bert"], max_seq_length=32), SpladePooling()], [None]),
    "splade_pooling": (lambda c: [MLMTransformer(c["bert"]), SpladePooling("sum", "log1p_relu", chunk_size=4)], [None]),
    "clip": (lambda c: [models.CLIPModel(build_tiny_clip(c["bert"].parent / "clip"))], [None]),
    "sparse_static_embedding": (
        lambda c: [SparseStaticEmbedding(AutoTokenizer.from_pretrained(c["bert"]), weight=torch.rand(400))],
        [None],
    ),
}
# Registered modules that do not end in an embedding, with where their contract is tested instead.
NOT_EMBEDDING_MODULES = {
    "classifier_transformer": "scores text pairs; tests/test_cross_encoder.py",
    "multi_vector_mask": "masks token embeddings of a MultiVectorEncoder; tests/test_multi_vector.py",
}


def test_every_registered_module_has_a_contract_pipeline() -> None:
    missing = sorted(set(registered_modules()) - set(CONTRACT_PIPELINES) - set(NOT_EMBEDDING_MODULES))
    assert not missing, f"Add a contract pipeline for the newly registered modules {missing}"


@pytest.fixture(params=sorted(CONTRACT_PIPELINES))
def built(request: pytest.FixtureRequest, hf_checkpoints: dict[str, Path]) -> tuple[str, SentenceTransformer, list]:
    torch.manual_seed(0)
    builder, tasks = CONTRACT_PIPELINES[request.param]
    model = SentenceTransformer(modules=builder(hf_checkpoints), device="cpu")
    assert any(module.registry_name == request.param for module in walk(model) if isinstance(module, Module))
    return request.param, model, tasks


def test_save_then_load_gives_identical_outputs_and_configs(built, tmp_path: Path) -> None:
    _, model, tasks = built
    model.save(tmp_path / "model")
    reloaded = SentenceTransformer(tmp_path / "model", device="cpu")
    for task in tasks:
        assert max_abs_diff(reloaded.encode(TEXTS, task=task), model.encode(TEXTS, task=task)) <= 1e-6
    configs = [
        json.dumps(m.get_config_dict(), sort_keys=True, default=str) for m in walk(model) if isinstance(m, Module)
    ]
    again = [
        json.dumps(m.get_config_dict(), sort_keys=True, default=str) for m in walk(reloaded) if isinstance(m, Module)
    ]
    assert again == configs


def test_every_trainable_parameter_gets_a_gradient(built) -> None:
    _, model, tasks = built
    if not any(parameter.requires_grad for parameter in model.parameters()):
        pytest.skip("no trainable parameters in this pipeline")
    for task in tasks:
        features = model.tokenize(TEXTS, task=task)
        output = model(features)["sentence_embedding"]  # (B, D)
        probe = torch.randn(output.shape, generator=torch.Generator().manual_seed(1))
        (output * probe).sum().backward()
    for name, parameter in model.named_parameters():
        if parameter.requires_grad and not any(part in name for part in UNUSED_BY_DESIGN):
            assert parameter.grad is not None, f"{name} got no gradient"
            assert parameter.grad.abs().sum() > 0, f"{name} got a zero gradient"


def test_no_nan_and_same_embedding_alone_or_in_a_batch(built) -> None:
    _, model, tasks = built
    for task in tasks:
        batch = model.encode(TEXTS, task=task, batch_size=len(TEXTS))
        assert bool(torch.isfinite(torch.from_numpy(batch)).all())
        for index, text in enumerate(TEXTS):
            assert max_abs_diff(model.encode([text], task=task)[0], batch[index]) <= 1e-5
