from __future__ import annotations

from pathlib import Path

import pytest

from fec.data.synth import write_synthetic_dataset


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    """60 synthetic triplets with small faces: enough to exercise training, not to learn."""
    out = tmp_path_factory.mktemp("tiny_synth")
    write_synthetic_dataset(out, triplets=60, seed=5, image_size=48)
    return out


def tiny_overrides(data: Path, **extra) -> dict:
    """A deterministic, fast configuration: fp32, no dropout, small stored faces."""
    return {"data": str(data), "model": "mobilenet_v3_small", "batch_size": 8, "max_steps": 6, "face_size": 64,
            "dropout": 0.0, "amp": "off", "val_fraction": 0.2, "eval_every": 3, "checkpoint_every": 3,
            "warmup_steps": 2, "lr": 0.01, "log_every": 1, **extra}
