"""Tiny checkpoints of the encoder families the Transformer module supports, for parity tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tests.tiny_models import HIDDEN, _save_bytelevel, _save_wordpiece

_COMMON = {"vocab_size": 400, "num_attention_heads": 4, "intermediate_size": 64}


def _model(config_class: str, model_class: str, **config: Any) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        import transformers

        model = getattr(transformers, model_class)(getattr(transformers, config_class)(**config))
        model.save_pretrained(folder)

    return build


FAMILIES: dict[str, tuple[Callable[[Path], None], str]] = {
    "xlm-roberta": (
        _model(
            "XLMRobertaConfig",
            "XLMRobertaModel",
            hidden_size=HIDDEN,
            num_hidden_layers=2,
            max_position_embeddings=130,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            **_COMMON,
        ),
        "bytelevel",
    ),
    "mpnet": (
        _model(
            "MPNetConfig",
            "MPNetModel",
            hidden_size=HIDDEN,
            num_hidden_layers=2,
            max_position_embeddings=130,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            **_COMMON,
        ),
        "bytelevel",
    ),
    "albert": (
        _model(
            "AlbertConfig",
            "AlbertModel",
            hidden_size=HIDDEN,
            embedding_size=16,
            num_hidden_layers=2,
            max_position_embeddings=128,
            **_COMMON,
        ),
        "wordpiece",
    ),
    "electra": (
        _model(
            "ElectraConfig",
            "ElectraModel",
            hidden_size=HIDDEN,
            embedding_size=16,
            num_hidden_layers=2,
            max_position_embeddings=128,
            **_COMMON,
        ),
        "wordpiece",
    ),
    "t5": (
        _model(
            "T5Config",
            "T5EncoderModel",
            vocab_size=400,
            d_model=HIDDEN,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            pad_token_id=1,
            eos_token_id=2,
            decoder_start_token_id=1,
        ),
        "bytelevel",
    ),
}


def build_family(family: str, folder: Path) -> Path:
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    build_model, tokenizer = FAMILIES[family]
    build_model(folder)
    if tokenizer == "wordpiece":
        _save_wordpiece(folder, "")
    else:
        _save_bytelevel(folder, model_max_length=128)
    return folder
