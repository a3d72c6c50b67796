"""SIGTERM saves a checkpoint and exits 143; --resume continues from it with the saved configuration."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers import tiny_overrides

pytestmark = pytest.mark.slow


def wait_for_steps(metrics_path, deadline: float) -> None:
    while time.time() < deadline:
        if metrics_path.exists() and any(json.loads(line).get("split") == "train"
                                           for line in metrics_path.read_text().splitlines() if line):
            return
        time.sleep(0.2)
    raise AssertionError("training never logged a step")


def test_sigterm_saves_then_resume_continues(tiny_synth, tmp_path):
    run = tmp_path / "run"
    sets = [f"--set={k}={v}" for k, v in tiny_overrides(tiny_synth, input_size=64, max_steps=10_000).items()]
    process = subprocess.Popen([sys.executable, "-m", "fec.cli.train", "--out", str(run), "--quiet", *sets],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_steps(run / "metrics.jsonl", time.time() + 300)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    stopped_at = torch.load(run / "last.pt", weights_only=True)["step"]
    assert f"stopped by SIGTERM at step {stopped_at}" in stderr and "--resume" in stderr
    assert not list(run.rglob("*.tmp"))

    resumed = subprocess.run([sys.executable, "-m", "fec.cli.train", "--out", str(run), "--resume", "--quiet",
                              "--max-steps", str(stopped_at + 2)], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert torch.load(run / "last.pt", weights_only=True)["step"] == stopped_at + 2
