"""A linear layer whose bfloat16 / float16 products run on oneDNN with the weight packed once (CPU).

``F.linear`` on a bfloat16 CPU tensor reorders the weight into oneDNN's blocked layout on every
call. For an encoder's small matrices that reorder is a third of the product: on a Xeon with AMX,
all-MiniLM-L6-v2's products over 480 rows took 246 / 130 / 317 / 380 µs through ``F.linear`` and
155 / 88 / 219 / 323 µs with the weight packed beforehand (same results to the bit), and a
feed-forward product with its GELU applied in the same pass 338 µs instead of 511.
:class:`PackedLinear` packs once with ``torch.ops.mkldnn._reorder_linear_weight`` and runs
``torch.ops.mkldnn._linear_pointwise``, the private operators torch's own compiler uses for this.

Everything else takes the plain ``F.linear`` path: float32 weights (there the reorder costs about
5%, not worth a second copy of the weights), weights off the CPU, CPUs without native
bfloat16 / float16 support in oneDNN (AMD Zen 1 ...), and torch builds without these operators.
The packed copy is remade when the weight changes (a new tensor, or an in-place update), and it is
never pickled or copied (worker processes pack their own).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional

# Rows the packing is tuned for (32 sentences of 16 tokens); packed weights serve any row count,
# and this hint suited 16 to 4,096 rows as well as packing for each size did (measured on AMX).
_PACK_ROWS = 512


class PackedLinear(nn.Linear):
    """``nn.Linear`` (same parameters and state dict) that can fuse GELU and packs low-precision weights."""

    _packed: tuple[tuple[int, int], Tensor] | None = None

    def forward(self, hidden: Tensor, activation: str | None = None) -> Tensor:
        """``hidden @ weight.T + bias`` in the weight's dtype, then GELU (exact) if ``activation="gelu"``."""
        hidden = hidden.to(self.weight.dtype)
        packed = self._packed_weight()
        if packed is None:
            output = functional.linear(hidden, self.weight, self.bias)
            return functional.gelu(output) if activation == "gelu" else output
        algorithm = "none" if activation == "gelu" else ""  # "none": the erf form of GELU, as torch's default
        return torch.ops.mkldnn._linear_pointwise(hidden, packed, self.bias, activation or "none", [], algorithm)

    def _packed_weight(self) -> Tensor | None:
        weight = self.weight
        if weight.device.type != "cpu" or not packing_available(weight.dtype):
            return None
        try:
            stamp = (weight.data_ptr(), weight._version)
        except RuntimeError:  # a weight made in inference mode has no version counter to watch
            return None
        if self._packed is None or self._packed[0] != stamp:
            self._packed = (stamp, torch.ops.mkldnn._reorder_linear_weight(weight.detach(), _PACK_ROWS))
        return self._packed[1]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_packed", None)  # an opaque oneDNN tensor: it cannot be pickled, and is remade on use
        return state


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
