"""`channels_last` changes how tensors are laid out, not what the steps compute."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import tiny_overrides

from fec.train.config import load_config
from fec.train.trainer import Trainer


def train_losses(data, run_dir, channels_last: bool) -> tuple[list[float], Trainer]:
    overrides = tiny_overrides(data, model="compact_cnn", max_steps=3, eval_every=100, checkpoint_every=100, lr=1e-4,
                               channels_last=channels_last)
    trainer = Trainer(load_config(None, overrides), run_dir, quiet=True)
    trainer.fit()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if row["split"] == "train"], trainer


def test_channels_last_lays_out_weights_as_nhwc_and_trains_the_same(tiny_synth, tmp_path):
    nchw, _ = train_losses(tiny_synth, tmp_path / "nchw", channels_last=False)
    nhwc, trainer = train_losses(tiny_synth, tmp_path / "nhwc", channels_last=True)
    first_conv = trainer.model.trunk[0].weight
    assert first_conv.is_contiguous(memory_format=torch.channels_last)
    assert not first_conv.is_contiguous()
    assert len(nhwc) == 3
    assert nhwc == pytest.approx(nchw, rel=2e-3)  # summation order differs; a wrong layout is off by far more
