"""Linear layers whose bfloat16 / float16 products run on oneDNN with the weights packed once (CPU).

``F.linear`` on a bfloat16 CPU tensor reorders the weight into oneDNN's blocked layout on every
call. For an encoder's small matrices that reorder is a third of the product: on a Xeon with AMX,
all-MiniLM-L6-v2's products over 480 rows took 246 / 130 / 317 / 380 µs through ``F.linear`` and
155 / 88 / 219 / 323 µs with the weight packed beforehand (same results to the bit), and a
feed-forward product with its GELU applied in the same pass 338 µs instead of 511.
:class:`WeightPacking` packs once with ``torch.ops.mkldnn._reorder_linear_weight`` and
:func:`packed_linear` runs ``torch.ops.mkldnn._linear_pointwise``, the private operators torch's
own compiler uses for this. Several layers that read the same input (attention's query, key and
value) can share one packed matrix: one product instead of three, at no extra memory, since the
packed copy exists anyway.

The products run in the weights' own type, or in ``compute_dtype`` when one is set: float32
weights then stay as they are (and so does everything that reads them: saving, training, the
hand-over to transformers) while the packed copy is in bfloat16; that is ``backend="auto"``.

Everything else takes the plain ``F.linear`` path in the weights' type: float32 products (there
the reorder costs about 5%, not worth a second copy of the weights), weights off the CPU, CPUs
without native bfloat16 / float16 support in oneDNN (AMD Zen 1 ...), and torch builds without
these operators. The packed copy is remade when a weight changes (a new tensor, or an in-place
update), dropped when packing stops applying, and never pickled or copied (worker processes pack
their own).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional

# Rows the packing is tuned for (32 sentences of 16 tokens); packed weights serve any row count,
# and this hint suited 16 to 4,096 rows as well as packing for each size did (measured on AMX).
_PACK_ROWS = 512

Packed = tuple[Tensor, Tensor | None]
"""A packed (N, K) weight (the layers' weights stacked by output rows) and their stacked biases."""


def products_dtype(layer: nn.Linear, compute_dtype: torch.dtype | None) -> torch.dtype | None:
    """The low-precision type ``layer``'s products run in on packed weights, or None for plain ``F.linear``."""
    dtype = compute_dtype or layer.weight.dtype
    return (
        None if dtype == torch.float32 or layer.weight.device.type != "cpu" or not packing_available(dtype) else dtype
    )


class WeightPacking:
    """The packed copy of the weights of one or more linear layers, made on first use."""

    def __init__(self) -> None:
        self._stamp: tuple[Any, ...] | None = None
        self._packed: Packed | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (WeightPacking, ())  # an opaque oneDNN tensor cannot be pickled; a copy packs again

    def packed(self, layers: Sequence[nn.Linear], compute_dtype: torch.dtype | None = None) -> Packed | None:
        """The weights of ``layers`` (same input width) stacked and packed in the type their products run
        in (:func:`products_dtype`), or None where packing does not apply (a packed copy is then dropped)."""
        dtype = products_dtype(layers[0], compute_dtype)
        with_bias = sum(layer.bias is not None for layer in layers)
        if dtype is None or 0 < with_bias < len(layers):
            self._packed = self._stamp = None
            return None
        tensors = [tensor for layer in layers for tensor in (layer.weight, layer.bias) if tensor is not None]
        try:
            stamp = (dtype, *((tensor.data_ptr(), tensor._version) for tensor in tensors))
        except RuntimeError:  # a weight made in inference mode has no version counter to watch
            return None
        if stamp != self._stamp:
            with torch.no_grad():
                stacked = torch.cat([layer.weight for layer in layers]).to(dtype)  # (N, K)
                biases: list[Tensor] = [layer.bias for layer in layers if layer.bias is not None]
                bias = torch.cat(biases).to(dtype) if biases else None
                self._packed = (torch.ops.mkldnn._reorder_linear_weight(stacked, _PACK_ROWS), bias)
            self._stamp = stamp
        return self._packed


def packed_linear(hidden: Tensor, packed: Packed, activation: str | None = None) -> Tensor:
    """``hidden @ weight.T + bias`` on a packed weight, in its type (``hidden`` is cast to it), then GELU
    (exact) if ``activation="gelu"``."""
    weight, bias = packed
    algorithm = "none" if activation == "gelu" else ""  # "none": the erf form of GELU, torch's default
    return torch.ops.mkldnn._linear_pointwise(
        hidden.to(weight.dtype), weight, bias, activation or "none", [], algorithm
    )


class PackedLinear(nn.Linear):
    """``nn.Linear`` (same parameters and state dict) that packs low-precision weights and can fuse GELU.

    ``compute_dtype`` (None: the weights' own type) is the type the product runs in when packing applies.
    """

    compute_dtype: torch.dtype | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.packing = WeightPacking()

    def forward(self, hidden: Tensor, activation: str | None = None) -> Tensor:
        """The product (``hidden`` is cast to the type it runs in), then GELU if ``activation="gelu"``."""
        plain = self.compute_dtype is None and self.weight.dtype == torch.float32  # the common case, checked first
        packed = None if plain else self.packing.packed((self,), self.compute_dtype)
        if packed is not None:
            return packed_linear(hidden, packed, activation)
        output = functional.linear(hidden.to(self.weight.dtype), self.weight, self.bias)
        return functional.gelu(output) if activation == "gelu" else output


@functools.cache
def packing_available(dtype: torch.dtype) -> bool:
    """Whether this CPU and torch build run packed oneDNN products for ``dtype`` (bfloat16 or float16)."""
    mkldnn = torch.ops.mkldnn
    try:
        supported = {
            torch.bfloat16: mkldnn._is_mkldnn_bf16_supported,
            torch.float16: mkldnn._is_mkldnn_fp16_supported,
        }
        if dtype not in supported or not (torch.backends.mkldnn.is_available() and supported[dtype]()):
            return False
        weight = mkldnn._reorder_linear_weight(torch.ones(2, 2, dtype=dtype), 1)
        output = mkldnn._linear_pointwise(torch.ones(1, 2, dtype=dtype), weight, None, "none", [], "")
    except (AttributeError, RuntimeError):
        return False
    return bool(torch.equal(output, torch.full((1, 2), 2.0, dtype=dtype)))
