"""What the CPU can do, read at run time: its model name and instruction-set flags.

Speed choices (which engine ``backend="auto"`` picks, how attention pads its keys) follow the
instruction set of the machine the code runs on, never a figure measured on another one. Nothing
here imports torch; flags come from ``/proc/cpuinfo`` (Linux) and are empty elsewhere, so every
choice made from them falls back to the portable one.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path

_CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CpuInfo:
    """The CPU's model name and its feature flags (as ``/proc/cpuinfo`` spells them)."""

    model: str
    flags: frozenset[str]

    @property
    def bf16_matmul(self) -> bool:
        """Native bfloat16 matrix products: AMX tiles or AVX-512 BF16 dot products."""
        return "amx_bf16" in self.flags or "avx512_bf16" in self.flags

    @property
    def int8_dot_product(self) -> bool:
        """Native int8 dot products: VNNI (AVX-512 or AVX) or AMX tiles."""
        return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & self.flags)

    def summary(self) -> str:
        """The model and the flags that decide sentkit's speed choices, for benchmark tables and logs."""
        wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
        shown = [flag for flag in wanted if flag in self.flags]
        return f"{self.model} ({', '.join(shown) or 'no AVX2'})"


@functools.cache
def cpu_info() -> CpuInfo:
    """The CPU this process runs on (read once)."""
    model, flags = platform.processor() or platform.machine(), frozenset[str]()
    try:
        text = _CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return CpuInfo(model, flags)
    return parse_cpuinfo(text, model)


def parse_cpuinfo(text: str, default_model: str = "unknown CPU") -> CpuInfo:
    """The model name and flags of the first processor listed in ``/proc/cpuinfo`` text."""
    model, flags = default_model, frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == default_model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = frozenset(value.split())
    return CpuInfo(model, flags)


@functools.cache
def attention_key_block() -> int:
    """Keys per vector of torch's CPU attention kernel: 16 with AVX-512, else 8.

    The kernel computes the softmax's exponentials a vector of float32 at a time and the rest of
    a row one by one, so a key count that is not a multiple of this runs several times slower
    (on a Xeon with AVX-512: 15 keys 1.05 ms, 16 keys 0.32 ms for 32 x 12 heads).
    """
    import torch

    return 16 if torch.backends.cpu.get_cpu_capability().startswith("AVX512") else 8
