"""fec-deploy on a CUDA GPU: the CUDA candidates (eager fp32/fp16/bf16, CUDA graphs) are verified against
PyTorch on the CPU (fec.verify.verify_checkpoint_backends), timed and judged beside the CPU ones, and a
PyTorch choice is packaged as the next fastest Triton model. Assertions are on the decision's rule and
files, never on which runtime is faster.

Marked `gpu`; skipped with the reason where there is no CUDA GPU.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from gpu_helpers import needs_cuda

from fec.cli.deploy import main
from fec.deploy.select import Measured, choose_per_batch

CUDA_CANDIDATES = ["torch-cuda/checkpoint", "torch-cuda-fp16/checkpoint", "torch-cuda-bf16/checkpoint",
                   "torch-cuda-graphs/checkpoint", "torch-cuda-graphs-fp16/checkpoint"]
TRIED = ["torch/checkpoint", *CUDA_CANDIDATES, "onnxruntime/onnx-fp32", "onnxruntime/onnx-fp16"]
# TF32 convolutions (cuDNN's default) in "fp32"; bf16 keeps 8 mantissa bits (worst face 0.976 on an H200, 2026-11-28)
MIN_COS = {"fp32": 0.999, "fp16": 0.99, "bf16": 0.95}


@needs_cuda
def test_cuda_candidates_are_verified_timed_judged_and_a_pytorch_choice_serves_the_next_fastest(
        gpu_checkpoint, tiny_synth, tmp_path):
    out = tmp_path / "deploy"
    args = [str(gpu_checkpoint), "--data", str(tiny_synth / "test.csv"), "--out", str(out), "--batch", "1,4",
            "--precision", "fp32,fp16,bf16", "--backend", ",".join(dict.fromkeys(name.split("/")[0] for name in TRIED)),
            "--warmup", "2", "--iters", "5", "--max-windows", "2", "--passes", "1", "--serve-with", "python", "--quiet"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output

    decision = json.loads((out / "decision.json").read_text())
    measured = [Measured.from_dict(entry) for entry in decision["candidates"]]
    assert [candidate.name for candidate in measured] == TRIED
    for candidate in measured:
        assert candidate.status == "ok", (candidate.name, candidate.reason)
        assert sorted(candidate.timings) == [1, 4]
        assert candidate.nonfinite == 0 and candidate.min_cos >= MIN_COS[candidate.precision], candidate.name
        if candidate.precision != "fp32":  # verified against the CPU, not taken to equal the reference
            assert candidate.min_cos < 1.0 and candidate.delta_pt is not None, candidate.name
    assert decision["hardware"]["gpus"] and decision["hardware"]["gpus"][0]["name"]

    for recorded in decision["per_batch"]:
        assert recorded["chosen"] == choose_per_batch(measured, recorded["batch"], 0.5, "compute").chosen
    served, at_largest = decision["served"], decision["per_batch"][-1]["chosen"]
    if at_largest.startswith("torch"):  # PyTorch is no Triton model: the fastest export within the budget is served
        assert served["candidate"].startswith("onnxruntime/onnx-fp") and "is no Triton model" in served["why"]
    else:
        assert served["candidate"] == at_largest
    assert served["embedding"] == "ort-python" and (Path(served["repo"]) / ".fec-triton.json").is_file()
