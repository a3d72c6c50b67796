"""A short run on a small synthetic set learns: held-out accuracy rises well above chance (1/3)."""

from __future__ import annotations

import pytest

from fec.data.synth import write_synthetic_dataset
from fec.train.config import load_config
from fec.train.trainer import Trainer

pytestmark = pytest.mark.slow


def test_short_run_beats_chance_by_far(tmp_path):
    data = tmp_path / "synth"
    write_synthetic_dataset(data, triplets=600, seed=11, image_size=48)
    config = load_config(None, {"data": str(data), "model": "mobilenet_v3_small", "input_size": 64, "face_size": 48,
                                "max_steps": 150, "batch_size": 32, "lr": 0.003, "warmup_steps": 10,
                                "eval_every": 50, "checkpoint_every": 1000, "val_fraction": 0.1})
    results = Trainer(config, tmp_path / "run", quiet=True).fit()
    overall = results["test"]["overall"]
    assert overall["count"] == 120
    assert overall["accuracy"] >= 0.6, results["test"]
