"""fec-bench on a CUDA GPU: synchronised timings and CUDA peak memory for the torch backends.

Marked `gpu`; skipped with the reason where there is no CUDA GPU.
"""

from __future__ import annotations

import csv
import json

from click.testing import CliRunner
from gpu_helpers import needs_cuda

from fec.cli.bench import main

FAST = ["--warmup", "2", "--iters", "5", "--max-windows", "3", "--quiet"]


@needs_cuda
def test_cuda_backends_report_device_memory_and_sane_latencies(gpu_checkpoint, tiny_synth, tmp_path):
    backends = "torch-cuda,torch-cuda-fp16,torch-cuda-bf16,torch-cuda-graphs"
    result = CliRunner().invoke(main, [str(gpu_checkpoint), "--backend", backends, "--batch", "1,4", "--data",
                                       str(tiny_synth / "test.csv"), "--json", str(tmp_path / "b.json"),
                                       "--csv", str(tmp_path / "b.csv"), *FAST], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b.json").read_text())
    rows = report["rows"]

    assert [(row["backend"], row["precision"], row["batch"]) for row in rows] == [
        (backend, precision, batch) for backend, precision in (("torch-cuda", "fp32"), ("torch-cuda-fp16", "fp16"),
                                                               ("torch-cuda-bf16", "bf16"), ("torch-cuda-graphs", "fp32"))
        for batch in (1, 4)]
    for row in rows:
        assert row["device"] == "cuda" and row["cuda_peak_mb"] > 0 and row["peak_rss_mb"] > 0
        assert 0 < row["min_ms"] <= row["p50_ms"] <= row["p99_ms"] <= row["max_ms"] and row["throughput"] > 0
    assert report["host"]["gpus"] and report["failures"] == []
    csv_rows = list(csv.DictReader((tmp_path / "b.csv").open()))
    assert [float(row["cuda_peak_mb"]) for row in csv_rows] == [row["cuda_peak_mb"] for row in rows]
