"""A short run on synthetic data learns: held-out accuracy rises clearly above chance (1/3).

Measured (2-core CPU): MobileNetV3-small at 112 px, batch 32, AdamW 3e-3, reaches 38.5% held-out
accuracy after 100 steps and 43.3% after 200 (3000 triplets, seed 0). Learning expression geometry from
scratch is slow: see benchmarks/README.md for longer runs.
"""

from __future__ import annotations

import pytest

from fec.data.synth import write_synthetic_dataset
from fec.train.config import load_config
from fec.train.trainer import Trainer

# Not in the default run (see setup.cfg): it takes ~3 minutes on an idle 2-core machine and its
# threshold still has to be confirmed there; run it with `pytest -m learning`.
pytestmark = [pytest.mark.slow, pytest.mark.learning]


def test_short_run_beats_chance_clearly(tmp_path):
    data = tmp_path / "synth"
    write_synthetic_dataset(data, triplets=3000, seed=0, image_size=128)
    config = load_config(None, {"data": str(data), "model": "mobilenet_v3_small", "face_size": 128,
                                "max_steps": 250, "batch_size": 32, "lr": 0.003, "warmup_steps": 0,
                                "schedule": "constant", "flip": False, "eval_every": 1000,
                                "checkpoint_every": 1000, "val_fraction": 0.0})
    results = Trainer(config, tmp_path / "run", quiet=True).fit()
    overall = results["test"]["overall"]
    assert overall["count"] == 600
    assert overall["accuracy"] >= 0.40, results["test"]
