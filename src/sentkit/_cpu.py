"""What the CPU can do, read at run time: its model name and instruction-set flags.

Speed choices (which engine ``backend="auto"`` picks, how attention pads its keys) follow the
instruction set of the machine the code runs on, never a figure measured on another one. Flags
come from ``/proc/cpuinfo`` (Linux) and are empty elsewhere, so every choice made from them falls
back to the portable one. Only :func:`attention_key_block` imports torch (it asks torch which
vector width its kernels were built for).
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path

_CPUINFO = Path("/proc/cpuinfo")
_UNKNOWN = "unknown CPU"


@dataclass(frozen=True)
class CpuInfo:
    """The CPU's model name and its feature flags (as ``/proc/cpuinfo`` spells them)."""

    model: str
    flags: frozenset[str]

    @property
    def bf16_matmul(self) -> bool:
        """Native bfloat16 matrix products: AMX tiles or AVX-512 BF16 dot products."""
        return "amx_bf16" in self.flags or "avx512_bf16" in self.flags

    def summary(self) -> str:
        """The model and the flags that decide sentkit's speed choices, for benchmark tables and logs."""
        wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
        shown = [flag for flag in wanted if flag in self.flags]
        return f"{self.model} ({', '.join(shown) or 'no AVX2'})"


@functools.cache
def cpu_info() -> CpuInfo:
    """The CPU this process runs on (read once)."""
    try:
        text = _CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    info = parse_cpuinfo(text)
    if info.model == _UNKNOWN:  # not Linux: the platform's name for it
        return CpuInfo(platform.processor() or platform.machine() or _UNKNOWN, info.flags)
    return info


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
