"""Fixtures of the GPU tests: a small checkpoint whose embeddings tell faces apart, and real faces to feed it.

A model trained for one step still has its batch-norm statistics at their initial values and embeds
every face alike (pairwise cosine > 0.9999), which would let a wrong GPU path pass a cosine test;
so the statistics are recomputed on real faces first (`test_the_test_model_tells_faces_apart` checks it).
Every test here that needs a GPU is marked `gpu` and skipped with the reason where there is none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from gpu_helpers import face_batch


@pytest.fixture(scope="session")
def gpu_checkpoint(tiny_synth, tmp_path_factory) -> Path:
    from fec.models.checkpoint import model_from_checkpoint, read_checkpoint, save_checkpoint
    from fec.train.config import load_config
    from fec.train.trainer import Trainer

    run = tmp_path_factory.mktemp("gpu_run")
    config = load_config(None, {"data": str(tiny_synth), "model": "mobilenet_v3_small", "input_size": 64,
                                "max_steps": 1, "batch_size": 8, "face_size": 64, "val_fraction": 0.0, "device": "cpu"})
    Trainer(config, run, quiet=True).fit()
    model, _, _ = model_from_checkpoint(run / "last.pt")
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average over the calibration batch
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(face_batch(run / "last.pt", tiny_synth, 48)))
    payload = read_checkpoint(run / "last.pt")
    payload["state_dict"] = model.state_dict()
    return save_checkpoint(run / "recalibrated.pt", payload)


@pytest.fixture(scope="session")
def faces(gpu_checkpoint, tiny_synth) -> np.ndarray:
    return face_batch(gpu_checkpoint, tiny_synth, 16)
