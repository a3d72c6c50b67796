"""PyTorch candidates other than the reference (CUDA, autocast, CUDA graphs) are verified like exports: their
embeddings against PyTorch on the CPU, never taken to equal the reference. On a CPU machine a bf16-autocast
PyTorch backend stands in for them (the CUDA ones run under `pytest -m gpu`, tests/gpu/test_gpu_deploy.py)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from fec.cli.deploy import main
from fec.deploy.select import Measured
from fec.runtimes import backends
from fec.verify import verify_checkpoint_backends

CPU_BF16 = backends.Backend("torch-bf16-test", "checkpoint", "torch", {"device": "cpu"}, "bf16",
                            summary="PyTorch on the CPU with bf16 autocast (a test stand-in for the CUDA candidates)",
                            forms=("checkpoint",))


def test_the_checkpoint_on_another_backend_is_judged_against_the_reference(small_checkpoint, small_synth, monkeypatch):
    monkeypatch.setitem(backends._BACKENDS, CPU_BF16.name, CPU_BF16)
    result = verify_checkpoint_backends(small_checkpoint, small_synth / "test.csv", ["torch", CPU_BF16.name, "onnxruntime"])
    same, bf16, wrong_kind = result.results
    assert (same.status, same.precision, same.max_abs, same.delta_pt, same.flips) == ("PASS", "fp32", 0.0, 0.0, 0.0)
    assert bf16.precision == "bf16" and bf16.runner["precision"] == "bf16"
    assert 0.9 < bf16.min_cos < 1.0 and bf16.max_abs > 0  # bf16 keeps 8 mantissa bits: never bit-equal
    assert bf16.delta_pt is not None and bf16.flips is not None
    assert (wrong_kind.status, wrong_kind.failures) == ("ERROR", ["backend onnxruntime runs onnx targets, not checkpoints"])
    assert result.triplets == 48 and set(result.reference["accuracy"]) >= {"overall"}


def test_fec_deploy_verifies_pytorch_candidates_besides_the_reference(small_checkpoint, small_synth, tmp_path, monkeypatch):
    monkeypatch.setitem(backends._BACKENDS, CPU_BF16.name, CPU_BF16)
    out = tmp_path / "deploy"
    args = [small_checkpoint, "--data", small_synth / "test.csv", "--out", out, "--batch", "2", "--threads", "1",
            "--warmup", "1", "--iters", "2", "--max-windows", "2", "--passes", "1", "--precision", "fp32,bf16",
            "--backend", f"torch,{CPU_BF16.name}", "--no-triton", "--no-peer", "--quiet"]
    result = CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    decision = json.loads((out / "decision.json").read_text())
    reference, bf16 = (Measured.from_dict(entry) for entry in decision["candidates"])
    assert (reference.name, reference.min_cos, reference.delta_pt) == ("torch/checkpoint", 1.0, 0.0)
    assert bf16.name == f"{CPU_BF16.name}/checkpoint" and bf16.status == "ok"
    assert 0.9 < bf16.min_cos < 1.0 and bf16.reason == ""  # measured, not copied from the reference
