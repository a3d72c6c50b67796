from __future__ import annotations

import pytest
from torch import nn

from fec.bench.floor import cpu_ghz, floor_ms, machine_peak, model_flops, runs_on_cpu, vector_unit
from fec.hardware import cpu_flags

CPUINFO = """processor\t: 0
model name\t: AMD EPYC
cpu MHz\t\t: 2445.406
flags\t\t: fpu sse sse2 avx fma avx2 bmi2
"""


def test_model_flops_counts_two_per_multiply_add():
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1, bias=False)  # 8 x 8 outputs x 8 channels x 27 MACs
    assert model_flops(conv, 8) == 2 * 8 * 8 * 8 * 27


def test_cpuinfo_parsing_and_vector_units():
    flags = cpu_flags(CPUINFO)
    assert {"avx2", "fma"} <= flags and cpu_ghz(CPUINFO) == pytest.approx(2.445406)
    assert vector_unit(flags) == "avx2"
    assert vector_unit(flags | {"avx512f"}) == "avx512f"
    assert vector_unit({"sse2"}) == "sse"


def test_floor_is_flops_over_rate():
    assert floor_ms(10**9, batch=32, gflops=100.0) == pytest.approx(320.0)


def test_machine_peak_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(CPUINFO)
    peak = machine_peak(threads=2, cpuinfo_path=info)
    assert peak.nominal_gflops == pytest.approx(2 * 2.445406 * 32)
    assert peak.int8_factor == 2.0 and peak.vector_unit == "avx2" and peak.measured_gflops > 0
    info.write_text(CPUINFO.replace("bmi2", "bmi2 avx512f avx512_vnni"))
    assert machine_peak(threads=1, cpuinfo_path=info).int8_factor == 4.0


def test_only_rows_computed_on_this_cpu_get_a_floor():
    row = {"target": "run/best.pt", "device": "cpu"}
    assert runs_on_cpu(row) and runs_on_cpu({**row, "device": "CPUExecutionProvider"})
    assert not runs_on_cpu({**row, "device": "cuda"}) and not runs_on_cpu({**row, "device": "CUDAExecutionProvider"})
    assert not runs_on_cpu({"target": "http://127.0.0.1:8000/fecnet", "device": "cpu"})
