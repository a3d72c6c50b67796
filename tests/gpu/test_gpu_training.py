"""fec-train on a CUDA GPU with fp16 and bf16 autocast: finite losses, a checkpoint that resumes (scaler state).

Marked `gpu`; skipped with the reason where there is no CUDA GPU.
"""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from gpu_helpers import needs_cuda

from fec.cli import train as train_cli
from tests.helpers import tiny_overrides


def train(data, out, amp: str, steps: int = 4):
    overrides = tiny_overrides(data, max_steps=steps, amp=amp, device="cuda", eval_every=steps, checkpoint_every=steps)
    sets = [f"--set={key}={value}" for key, value in overrides.items() if key not in ("data", "model")]
    return CliRunner().invoke(train_cli.main, ["--data", str(data), "--model", overrides["model"], "--out", str(out),
                                               "--quiet", *sets], catch_exceptions=False)


@needs_cuda
@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_cuda_training_with_autocast_has_finite_losses_and_a_resumable_checkpoint(tiny_synth, tmp_path, amp):
    from fec.models.checkpoint import read_checkpoint

    result = train(tiny_synth, tmp_path / "run", amp)
    assert result.exit_code == 0, result.output
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [entry["loss"] for entry in metrics if entry["split"] == "train"]
    payload = read_checkpoint(tmp_path / "run" / "last.pt")

    assert len(losses) == 4 and all(math.isfinite(loss) for loss in losses)
    assert payload["step"] == 4 and payload["config"]["amp"] == amp and payload["config"]["device"] == "cuda"
    if amp == "fp16":
        assert payload["scaler"]["scale"] > 0 and "_growth_tracker" in payload["scaler"]   # GradScaler on
    else:
        assert payload["scaler"] == {}                                                      # bf16 needs no scaler
    resumed = CliRunner().invoke(train_cli.main, ["--out", str(tmp_path / "run"), "--resume", "--max-steps", "6",
                                                  "--quiet"], catch_exceptions=False)
    assert resumed.exit_code == 0, resumed.output
    assert read_checkpoint(tmp_path / "run" / "last.pt")["step"] == 6


@needs_cuda
def test_training_throughput_mode_on_cuda(tiny_synth, tmp_path):
    from fec.cli.bench import main as bench_main

    result = CliRunner().invoke(bench_main, ["train", "--data", str(tiny_synth), "--device", "cuda", "--steps", "4",
                                             "--set", "amp=bf16", "--set", "batch_size=8", "--set", "face_size=64",
                                             "--set", "input_size=64", "--set", "val_fraction=0",
                                             "--json", str(tmp_path / "train.json")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "train.json").read_text())

    assert report["device"] == "cuda" and report["amp"]["dtype"] == "bf16" and report["gpus"]
    assert [row["images"] for row in report["rows"]] == [4 * 8 * 3] * 2
    assert all(row["images_per_s"] > 0 for row in report["rows"]) and report["ratio"] > 0
