"""A small checkpoint to deploy: the demo's compact_cnn trained for a few steps on a small synthetic set
(big enough to calibrate int8 on: 32 distinct faces at least)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def small_synth(tmp_path_factory) -> Path:
    from fec.data.synth import write_synthetic_dataset

    out = tmp_path_factory.mktemp("deploy_synth")
    write_synthetic_dataset(out, triplets=120, seed=3, image_size=48, test_fraction=0.4)
    return out


@pytest.fixture(scope="session")
def small_checkpoint(small_synth, tmp_path_factory) -> Path:
    from fec.train.config import load_config
    from fec.train.trainer import Trainer

    run = tmp_path_factory.mktemp("deploy_run")
    config = load_config(None, {"data": str(small_synth), "model": "compact_cnn", "max_steps": 3, "batch_size": 8,
                                "face_size": 64, "val_fraction": 0.0, "seed": 0, "amp": "off"})
    Trainer(config, run, quiet=True).fit()
    return run / "last.pt"
