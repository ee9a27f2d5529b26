"""The FLOP count that benchmarks/bench_speed.py turns into a share of the machine's peak."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from sentkit.benchmarking import encoder_flops_per_token
from sentkit.errors import InputError


@pytest.mark.parametrize("length", [1, 7, 40])
def test_encoder_flops_equal_torch_flop_counter(length: int) -> None:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4, vocab_size=100
    )
    config._attn_implementation = "eager"  # torch's counter sees attention's products only when they are plain matmuls
    model = BertModel(config, add_pooling_layer=False).eval()
    input_ids = torch.randint(0, 100, (2, length))
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(input_ids=input_ids)
    assert encoder_flops_per_token(config.to_dict(), length) == counter.get_total_flops() / input_ids.numel()


def test_encoder_flops_need_the_sizes() -> None:
    with pytest.raises(InputError, match="intermediate_size"):
        encoder_flops_per_token({"hidden_size": 8, "num_hidden_layers": 2}, 16)
