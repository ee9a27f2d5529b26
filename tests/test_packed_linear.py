"""PackedLinear: nn.Linear with low-precision weights packed once for oneDNN, same results."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch.nn import functional

from sentkit.modules.packed_linear import PackedLinear, WeightPacking, packed_linear, packing_available

# oneDNN picks its kernel per CPU (AMX, AVX-512 BF16, ...): packed and plain bfloat16 products may
# round differently, so they are compared within two bfloat16 steps; float32 products are equal.
LOW = {"atol": 2e-2, "rtol": 2e-2}

needs_packing = pytest.mark.skipif(
    not packing_available(torch.bfloat16), reason="this CPU or torch build has no packed bfloat16 products in oneDNN"
)


def _layers(dtype: torch.dtype) -> tuple[PackedLinear, torch.nn.Linear]:
    torch.manual_seed(0)
    plain = torch.nn.Linear(48, 96).to(dtype)
    packed = PackedLinear(48, 96).to(dtype)
    packed.load_state_dict(plain.state_dict())
    return packed, plain


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_same_outputs_and_state_dict_as_nn_linear(dtype: torch.dtype) -> None:
    packed, plain = _layers(dtype)
    assert list(packed.state_dict()) == list(plain.state_dict())
    hidden = torch.randn(2, 7, 48)
    with torch.inference_mode():
        tolerance = {"atol": 0, "rtol": 0} if dtype == torch.float32 else LOW
        torch.testing.assert_close(packed(hidden), plain(hidden.to(dtype)), **tolerance)
        expected = functional.gelu(plain(hidden.to(dtype)).float())
        # Fused GELU works on the float32 accumulator before rounding: within one bfloat16 step.
        torch.testing.assert_close(packed(hidden, activation="gelu").float(), expected, atol=0.05, rtol=0.01)


@needs_packing
def test_bfloat16_weights_are_packed_once_and_repacked_when_changed() -> None:
    packed, plain = _layers(torch.bfloat16)
    hidden = torch.randn(5, 48, dtype=torch.bfloat16)
    with torch.inference_mode():
        packed(hidden)
    first = packed.packing._packed
    assert first is not None
    with torch.inference_mode():
        packed(hidden)
    assert packed.packing._packed is first  # reused
    with torch.no_grad():
        packed.weight.mul_(2)
        plain.weight.mul_(2)
    with torch.inference_mode():
        torch.testing.assert_close(packed(hidden), plain(hidden), **LOW)
    assert packed.packing._packed is not first


@needs_packing
def test_packed_layers_pickle_and_copy_without_their_packed_weight() -> None:
    packed, _ = _layers(torch.bfloat16)
    hidden = torch.randn(3, 48, dtype=torch.bfloat16)
    with torch.inference_mode():
        expected = packed(hidden)
    for clone in (pickle.loads(pickle.dumps(packed)), copy.deepcopy(packed)):
        assert clone.packing._packed is None
        with torch.inference_mode():
            torch.testing.assert_close(clone(hidden), expected, atol=0, rtol=0)


def test_float32_and_unsupported_types_take_the_plain_path(monkeypatch: pytest.MonkeyPatch) -> None:
    packed, _ = _layers(torch.float32)
    with torch.inference_mode():
        packed(torch.randn(2, 48))
    assert packed.packing._packed is None
    assert not packing_available(torch.float32)
    assert not packing_available(torch.int8)
    low, low_plain = _layers(torch.bfloat16)
    monkeypatch.setattr("sentkit.modules.packed_linear.packing_available", lambda dtype: False)
    hidden = torch.randn(2, 48, dtype=torch.bfloat16)
    with torch.inference_mode():
        torch.testing.assert_close(low(hidden), low_plain(hidden), atol=0, rtol=0)
    assert low.packing._packed is None


@needs_packing
def test_layers_reading_one_input_share_a_packed_matrix() -> None:
    torch.manual_seed(0)
    layers = [torch.nn.Linear(48, 16).to(torch.bfloat16) for _ in range(3)]
    packing = WeightPacking()
    hidden = torch.randn(4, 48, dtype=torch.bfloat16)
    with torch.inference_mode():
        packed = packing.packed(layers)
        assert packed is not None
        fused = packed_linear(hidden, packed)
    assert fused.shape == (4, 48)
    expected = torch.cat([layer(hidden) for layer in layers], dim=-1)
    torch.testing.assert_close(fused, expected, **LOW)
