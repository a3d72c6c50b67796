"""A short run on synthetic data learns: held-out accuracy rises clearly above chance (1/3).

compact_cnn (grid head, per-image standardisation: fec-train's default) at its declared 64 px,
batch 32, AdamW 1e-3 after a 100-step warm-up, 300 steps, on the 3000 triplets below.
600 held-out triplets at chance would score 33.3% with a standard deviation of 1.9 points: the 40% bar
is 3.5 standard deviations above chance.

The loop behind the bar: `pytest tests/train/test_learning.py --learning-seeds 0-4` with one thread
(OMP_NUM_THREADS=1), 2026-11-29, on each kernel family:

| kernels | seed 0 | 1 | 2 | 3 | 4 |
|---|---:|---:|---:|---:|---:|
| AVX2 (AMD EPYC, Zen 3, AVX2 only; ATen capability AVX2) | 60.0 | 62.7 | 61.7 | 68.0 | 68.8 |
| scalar ATen + oneDNN SSE4.1 (the same CPU, held to them: see below) | 63.8 | 58.0 | 62.0 | 62.8 | 68.2 |
| AVX-512 (Zen 4) | not measured: no such machine in sessions 5-9 | | | | |

Each family sums in another order, so each seed takes another trajectory. The second row is a family
this project's CPUs never pick by themselves (`ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41`),
run to see the bar hold off the AVX2 path.
`bash benchmarks/kernel_families.sh` runs this loop (and the demo's seed table) on two families.

Before per-image standardisation this test's seed 0 scored 52.0% on the AVX2 machine and 34.8% on
a Zen 4 (AVX-512) one, where the run never left the early plateau (issue 12). The suite runs seed 0.
"""

from __future__ import annotations

import pytest

from fec.data.synth import write_synthetic_dataset
from fec.train.config import load_config
from fec.train.trainer import Trainer

pytestmark = pytest.mark.slow  # about a minute on an idle 2-core machine


def test_short_run_beats_chance_clearly(tmp_path, learning_seed, request):
    data = tmp_path / "synth"
    write_synthetic_dataset(data, triplets=3000, seed=0, image_size=128)
    config = load_config(None, {"data": str(data), "model": "compact_cnn", "face_size": 128,
                                "max_steps": 300, "batch_size": 32, "lr": 0.001, "warmup_steps": 100,
                                "schedule": "constant", "flip": True, "eval_every": 1000,
                                "checkpoint_every": 1000, "val_fraction": 0.0, "seed": learning_seed,
                                "amp": request.config.getoption("--learning-amp")})
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    results = trainer.fit()
    overall = results["test"]["overall"]
    # shown by pytest -rA: the loop's table
    print(f"seed {learning_seed}, {trainer.amp.name}: held-out {100 * overall['accuracy']:.1f}%")
    assert overall["count"] == 600
    assert overall["accuracy"] >= 0.40, results["test"]
