from __future__ import annotations

import pytest
from torch import nn

from fec.bench.floor import MachinePeak, floor_ms, floor_rows, machine_peak, model_flops, runs_on_cpu


def test_model_flops_counts_two_per_multiply_add():
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1, bias=False)  # 8 x 8 outputs x 8 channels x 27 MACs
    assert model_flops(conv, 8) == 2 * 8 * 8 * 8 * 27


def test_floor_is_flops_over_rate():
    assert floor_ms(10**9, batch=32, gflops=100.0) == pytest.approx(320.0)


def test_machine_peak_follows_the_cpu_kind(cpu_kind):
    """AVX-512 FMA doubles AVX2's fp32 FLOPs per cycle; VNNI doubles int8's rate over fp32 again."""
    peak = machine_peak(threads=2)
    assert (peak.vector_unit, peak.ghz) == (cpu_kind.vector_unit, cpu_kind.ghz)
    assert peak.nominal_gflops == pytest.approx(2 * cpu_kind.ghz * {"avx512f": 64, "avx2": 32}[cpu_kind.vector_unit])
    assert peak.int8_factor == (4.0 if cpu_kind.vnni else 2.0)
    assert peak.measured_gflops == peak.measured["fp32"] > 0 and set(peak.measured) == {"fp32", "bf16", "fp16", "int8"}


def test_only_rows_computed_on_this_cpu_get_a_floor():
    row = {"target": "run/best.pt", "device": "cpu"}
    assert runs_on_cpu(row) and runs_on_cpu({**row, "device": "CPUExecutionProvider"})
    assert not runs_on_cpu({**row, "device": "cuda"}) and not runs_on_cpu({**row, "device": "CUDAExecutionProvider"})
    assert not runs_on_cpu({"target": "http://127.0.0.1:8000/fecnet", "device": "cpu"})


def test_measured_floor_uses_the_fastest_arithmetic_the_precision_allows(monkeypatch):
    """int8 rows are held to the int8 rate; bf16 rows on a CPU that emulates bf16 to fp32's (a backend may
    always compute in fp32); a row that beats its floor is flagged, not hidden."""
    peak = MachinePeak(2, 2.45, "avx2", 156.8, 2.0, {"fp32": 100.0, "int8": 250.0, "bf16": 1.5, "fp16": 1.4})
    assert (peak.floor_gflops("int8"), peak.floor_gflops("bf16"), peak.floor_gflops("fp32")) == (250.0, 100.0, 100.0)
    monkeypatch.setattr("fec.bench.floor.config_flops", lambda config: 10**9)
    monkeypatch.setattr("fec.bench.floor.model_config_of", lambda target: {})
    report = {"rows": [{"target": "x.pt", "backend": "onnxruntime", "precision": precision, "batch": 1, "p50_ms": p50}
                       for precision, p50 in (("fp32", 20.0), ("int8", 3.0))]}
    fp32, int8 = floor_rows(report, peak)
    assert (fp32["floor_ms_measured_gemm"], fp32["x_measured_floor"], fp32["beats_measured_floor"]) == (10.0, 2.0, False)
    assert (int8["floor_ms_measured_gemm"], int8["x_measured_floor"], int8["beats_measured_floor"]) == (4.0, 0.75, True)
