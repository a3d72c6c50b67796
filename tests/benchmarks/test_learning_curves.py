"""benchmarks/learning_curves.py: recipes run as fec-train processes, held to one kernel family, tabulated."""

from __future__ import annotations

import json

from tests.helpers import load_benchmark_script, tiny_overrides

script = load_benchmark_script("learning_curves")


def test_a_kernel_family_sets_or_removes_both_variables(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx512")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    native = script.run_environment("native", threads=None)
    assert "ATEN_CPU_CAPABILITY" not in native and "ONEDNN_MAX_CPU_ISA" not in native
    held = script.run_environment("sse41", threads=1)
    assert (held["ATEN_CPU_CAPABILITY"], held["ONEDNN_MAX_CPU_ISA"], held["OMP_NUM_THREADS"]) == ("default", "SSE41", "1")


def test_two_recipes_on_avx2_kernels_are_tabulated_with_the_kernels_they_ran_on(tiny_synth, tmp_path, capsys):
    shared = [f"{key}={value}" for key, value in tiny_overrides(tiny_synth).items() if key != "data"]
    args = ["--data", str(tiny_synth), "--out", str(tmp_path / "runs"), "--device", "cpu", "--threads", "1",
            "--kernels", "avx2", *(item for setting in shared for item in ("--set", setting))]
    assert script.main([*args, "a: seed=0", "b: seed=1 lr=nan"]) == 1  # a bad recipe is reported, not raised
    summary = json.loads((tmp_path / "runs" / "curves.json").read_text())
    first, second = summary["runs"]
    assert summary["kernels"] == "avx2" and sorted(first["val"]) == ["3", "6"]
    assert (first["kernels"]["cpu"]["aten_capability"], first["kernels"]["cpu"]["onednn_max_isa"]) == ("AVX2", "AVX2")
    assert first["kernels"]["threads"] == 1 and first["first_spread"] > 0
    rows = [json.loads(line) for line in (tmp_path / "runs" / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [row["collapse_warning"] for row in rows if row["split"] == "val"] == [False, False]  # steps 3, 6: unsettled
    assert first["collapse_warnings"] == 0 and min(row.get("embedding_spread", 2) for row in rows) < 0.1
    assert "error" in second and "lr" in second["error"]
    table = capsys.readouterr().out
    assert "| kernels | ATen AVX2, oneDNN AVX2, 1 thr, fp32 |" in table and "b: FAILED" in table
