"""fec-train's `loss` key picks the per-triplet loss the steps optimise."""

from __future__ import annotations

import json
import math

import pytest
from helpers import tiny_overrides

from fec.train.config import load_config
from fec.train.trainer import Trainer


def first_loss(data, run_dir, **extra) -> float:
    config = load_config(None, tiny_overrides(data, max_steps=1, eval_every=100, checkpoint_every=100, **extra))
    Trainer(config, run_dir, quiet=True).fit()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return next(row["loss"] for row in rows if row["split"] == "train")


def test_softmax_loss_is_used_when_configured(tiny_synth, tmp_path):
    margin = first_loss(tiny_synth, tmp_path / "triplet")
    softmax = first_loss(tiny_synth, tmp_path / "softmax", loss="softmax", temperature=0.1)
    assert 0.0 <= margin <= 2 * (4.0 + 0.2)  # two hinge terms; unit embeddings are at most 4 apart squared
    assert math.isfinite(softmax) and softmax > 0.0
    assert softmax != pytest.approx(margin)
