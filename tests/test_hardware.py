"""The machine profile every verification and benchmark result records."""

from __future__ import annotations

import os

import pytest
import torch  # loaded, so the profile names the kernels PyTorch picked

from fec.hardware import (
    ISA_FLAGS,
    cpu_info,
    describe_cpu,
    describe_kernels,
    gemm_rates,
    hardware_profile,
    kernel_record,
    native_bf16,
)

ZEN4 = """processor\t: 0
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx fma avx2 avx512f avx512_vnni avx512_bf16 bmi2
processor\t: 1
"""


def test_the_profile_keeps_the_model_name_and_the_isa_that_picks_kernels(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(ZEN4)
    info = cpu_info(path)
    assert info.model == "AMD EPYC 9R14 96-Core Processor"
    assert info.isa == ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16")
    assert info.cores == os.cpu_count() and info.aten_capability in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR", "NO AVX")


def test_the_profile_names_a_onednn_isa_limit(tmp_path, monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert cpu_info(tmp_path / "absent").onednn_max_isa == "native"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert cpu_info(tmp_path / "absent").onednn_max_isa == "AVX2"


def test_no_cpuinfo_gives_empty_fields_not_an_error(tmp_path):
    info = cpu_info(tmp_path / "absent")
    assert (info.model, info.isa) == ("", ())


def test_this_machines_profile_is_plain_json_data():
    profile = hardware_profile()
    assert set(profile) == {"cpu", "gemm_gflops", "gpus"}
    assert set(profile["cpu"]) == {"model", "cores", "isa", "aten_capability", "onednn_max_isa", "ghz"}
    assert set(profile["cpu"]["isa"]) <= set(ISA_FLAGS)
    assert profile["gpus"] == [] or {"name", "compute_capability"} <= set(profile["gpus"][0])


def test_gemm_rates_measure_every_precision_once_per_process():
    """fp32, bf16 and fp16 through PyTorch, int8 (u8 x s8) through ONNX Runtime: positive rates, and a
    second call is the cached first (results of one process name one measurement)."""
    rates = gemm_rates(1)
    assert set(rates) == {"fp32", "bf16", "fp16", "int8"}
    assert all(rate > 0 for rate in rates.values())
    assert gemm_rates(1) is rates
    assert hardware_profile(threads=1)["gemm_gflops"] == rates


def test_the_kernel_line_names_cpu_isa_kernels_threads_and_gpus():
    cpu = {"model": "AMD EPYC", "cores": 2, "isa": ["avx2", "fma"], "aten_capability": "AVX2", "onednn_max_isa": "native"}
    record = {"cpu": cpu, "threads": 2, "gpus": [{"name": "NVIDIA H200", "compute_capability": "9.0"}]}
    assert describe_kernels(record) == "AMD EPYC (avx2, fma), ATen AVX2, oneDNN native, 2 threads, GPU NVIDIA H200"
    assert describe_kernels(record | {"threads": 1, "gpus": []}) == "AMD EPYC (avx2, fma), ATen AVX2, oneDNN native, 1 thread"
    assert describe_cpu({**cpu, "model": "", "isa": [], "onednn_max_isa": "SSE41"}) == (
        "unknown CPU (no listed ISA extensions), ATen AVX2, oneDNN SSE41")


def test_the_kernel_record_is_the_profiles_cpu_with_threads_and_torch():
    record = kernel_record()
    assert record["cpu"] == hardware_profile()["cpu"]
    assert record["threads"] == torch.get_num_threads() and record["torch"] == torch.__version__


@pytest.mark.parametrize("setting, message", [
    ("foo", "device 'foo': not a device; use auto, cpu, cuda or cuda:N"),
    ("meta", "device 'meta': fec runs on auto, cpu, cuda or cuda:N"),
])
def test_a_device_fec_cannot_run_on_is_one_line(setting, message):
    from fec.errors import ConfigError
    from fec.hardware import resolve_device

    with pytest.raises(ConfigError) as error:
        resolve_device(setting)
    assert str(error.value) == message


def test_each_cpu_kind_has_its_own_answer(cpu_kind):
    """What every CPU-dependent decision reads: native bf16 and VNNI on a Zen 4, neither on an AVX2-only CPU."""
    zen4 = cpu_kind.model.startswith("AMD EPYC 9")
    assert (cpu_kind.native_bf16, cpu_kind.vnni) == (zen4, zen4)
    assert cpu_kind.vector_unit == ("avx512f" if zen4 else "avx2") and cpu_kind.ghz == (2.6 if zen4 else 2.445)
    assert native_bf16() == cpu_kind.native_bf16


@pytest.mark.parametrize("limit, native", [("AVX2", False), ("avx512_core", False), ("AVX512_CORE_BF16", True),
                                           ("AVX512_CORE_AMX", True), ("native", True)])
def test_a_onednn_limit_below_bf16_makes_bf16_emulated(tmp_path, monkeypatch, limit, native):
    """ONEDNN_MAX_CPU_ISA=AVX2 on a Zen 4 (how the project runs AVX2 kernels there) leaves bf16 emulated."""
    path = tmp_path / "cpuinfo"
    path.write_text(ZEN4)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", limit)
    assert cpu_info(path).native_bf16 is native


def test_ci_names_the_flags_the_profile_records():
    """.ci/run prints the CPU line before the tests from the same flags fec.hardware records."""
    import re
    from pathlib import Path

    script = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    listed = re.search(r"grep -x -E '([a-z0-9_|]+)'", script).group(1).split("|")
    assert sorted(listed) == sorted(ISA_FLAGS)
    assert script.index('echo "CPU: ') < script.index("make test")
