"""CPU model and instruction-set flags, read at run time for sentkit's speed choices."""

from __future__ import annotations

from sentkit import _cpu

XEON = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse avx2 avx512f avx512_vnni avx_vnni avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse avx2 avx512f avx512_vnni avx_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""
EPYC = """processor\t: 0
model name\t: AMD EPYC Processor
flags\t\t: fpu sse avx avx2 fma
"""


def test_cpuinfo_is_parsed_into_model_and_flags() -> None:
    xeon, epyc = _cpu.parse_cpuinfo(XEON), _cpu.parse_cpuinfo(EPYC)
    assert xeon.model == "Intel(R) Xeon(R) Processor"
    assert {"amx_bf16", "avx512_vnni"} <= xeon.flags
    assert xeon.bf16_matmul
    assert not epyc.bf16_matmul
    assert (
        xeon.summary()
        == "Intel(R) Xeon(R) Processor (avx2, avx512f, avx512_vnni, avx_vnni, avx512_bf16, amx_bf16, amx_int8)"
    )
    assert epyc.summary() == "AMD EPYC Processor (avx2)"
    assert _cpu.parse_cpuinfo("").model == "unknown CPU"
    assert _cpu.parse_cpuinfo("").flags == frozenset()


def test_this_machine_is_read() -> None:
    import torch

    info = _cpu.cpu_info()
    if _cpu._CPUINFO.is_file():
        assert info == _cpu.parse_cpuinfo(_cpu._CPUINFO.read_text(encoding="utf-8", errors="replace"))
        assert info.model != "unknown CPU"
    avx512 = torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    assert _cpu.attention_key_block() == (16 if avx512 else 8)
