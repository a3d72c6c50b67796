"""A short run on synthetic data learns: held-out accuracy rises clearly above chance (1/3).

compact_cnn (grid head, per-image standardisation: fec-train's default) at its declared 64 px,
batch 32, AdamW 1e-3 after a 100-step warm-up, 300 steps, on the 3000 triplets below.
600 held-out triplets at chance would score 33.3% with a standard deviation of 1.9 points: the 40% bar
is 3.5 standard deviations above chance.

The loop behind the bar: this test's body with "seed" 0-4 in its config, one thread, 2026-11-29:

| kernels | seed 0 | 1 | 2 | 3 | 4 |
|---|---:|---:|---:|---:|---:|
| AVX2 (AMD EPYC, Zen 3, AVX2 only; ATen capability AVX2) | 60.0 | 62.7 | 61.7 | 68.0 | 68.8 |
| AVX-512 (Zen 4) | not measured: no such machine in that session | | | | |

Before per-image standardisation this test's seed 0 scored 52.0% on the AVX2 machine and 34.8% on
a Zen 4 (AVX-512) one, where the run never left the early plateau (issue 12). The suite runs seed 0.
"""

from __future__ import annotations

import pytest

from fec.data.synth import write_synthetic_dataset
from fec.train.config import load_config
from fec.train.trainer import Trainer

pytestmark = pytest.mark.slow  # about a minute on an idle 2-core machine


def test_short_run_beats_chance_clearly(tmp_path):
    data = tmp_path / "synth"
    write_synthetic_dataset(data, triplets=3000, seed=0, image_size=128)
    config = load_config(None, {"data": str(data), "model": "compact_cnn", "face_size": 128,
                                "max_steps": 300, "batch_size": 32, "lr": 0.001, "warmup_steps": 100,
                                "schedule": "constant", "flip": True, "eval_every": 1000,
                                "checkpoint_every": 1000, "val_fraction": 0.0})
    results = Trainer(config, tmp_path / "run", quiet=True).fit()
    overall = results["test"]["overall"]
    assert overall["count"] == 600
    assert overall["accuracy"] >= 0.40, results["test"]
