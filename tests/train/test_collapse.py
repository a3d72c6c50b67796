"""A run whose embeddings collapse to one point says so at validation, and records the spread; not while batch
norm's running statistics are still near their initial values (eval mode then looks collapsed whatever the weights)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from helpers import tiny_overrides

from fec.train.collapse import batch_norm_settling_steps, collapse_warning
from fec.train.config import load_config
from fec.train.trainer import Trainer


def validate_with(trainer: Trainer, make_embeddings, step: int | None = None) -> None:
    """One validation at `step` (default: the first with settled batch-norm statistics) whose embeddings are
    replaced by make_embeddings(shape)."""
    trainer.step = trainer.statistics_settle_at if step is None else step
    trainer.run_dir.mkdir(parents=True, exist_ok=True)  # fit() makes it; this calls one validation alone
    real = trainer.evaluate

    def evaluate(dataset):
        result = real(dataset)
        return dataclasses.replace(result, embeddings=make_embeddings(result.embeddings.shape))

    trainer.evaluate = evaluate
    trainer._validate()


def one_point(shape) -> np.ndarray:
    embeddings = np.zeros(shape, dtype=np.float32)
    embeddings[..., 0] = 1.0
    return embeddings


def spread_out(shape) -> np.ndarray:
    embeddings = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    return embeddings / np.linalg.norm(embeddings, axis=-1, keepdims=True)


def val_records(run_dir) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [row for row in rows if row["split"] == "val"]


def test_collapsed_embeddings_get_one_warning_line(tiny_synth, tmp_path, capsys):
    trainer = Trainer(load_config(None, tiny_overrides(tiny_synth)), tmp_path / "run", quiet=True)  # warnings still show
    validate_with(trainer, one_point)
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    step = trainer.statistics_settle_at
    assert step == 29  # compact_cnn's batch norms, PyTorch's momentum 0.1
    assert warnings == [warnings[0]] and f"step {step}: the embeddings have (nearly) collapsed to one point" in warnings[0]
    assert "restart with a longer warmup_steps, a larger batch_size or a lower lr" in warnings[0]
    record = val_records(tmp_path / "run")[-1]
    assert (record["embedding_spread"], record["collapse_warning"]) == (0.0, True)


def test_no_warning_while_batch_norm_statistics_are_unsettled(tiny_synth, tmp_path, capsys):
    trainer = Trainer(load_config(None, tiny_overrides(tiny_synth)), tmp_path / "run", quiet=False)
    validate_with(trainer, one_point, step=trainer.statistics_settle_at - 1)
    assert "warning:" not in capsys.readouterr().err
    record = val_records(tmp_path / "run")[-1]
    assert (record["embedding_spread"], record["collapse_warning"]) == (0.0, False)  # recorded all the same


@pytest.mark.parametrize("momentum, steps", [(0.1, 29), (0.01, 299), (0.5, 5), (None, 0)])
def test_settling_steps_follow_the_batch_norm_momentum(momentum, steps):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4, momentum=momentum),
                                torch.nn.BatchNorm2d(4, track_running_stats=False))
    assert batch_norm_settling_steps(model) == steps
    assert batch_norm_settling_steps(torch.nn.Linear(2, 2)) == 0


def test_the_warning_needs_both_a_low_spread_and_settled_statistics():
    assert collapse_warning(29, 0.05, 29, True).startswith("step 29: the embeddings have (nearly) collapsed")
    assert collapse_warning(28, 0.05, 29, True) is None
    assert collapse_warning(500, 0.1, 29, True) is None  # at the threshold: not collapsed


@pytest.mark.parametrize("spread", [float("nan"), float("inf")])
def test_nan_embeddings_are_called_a_divergence_not_the_plateau_at_any_step(spread):
    expected = ("step 3: the embeddings are not finite numbers (NaN or infinity): training has diverged; restart with "
                "a lower lr, a longer warmup_steps or grad_clip above 0")
    assert collapse_warning(3, spread, 29, True) == expected


def test_the_warning_names_standardization_first_when_it_is_off(tiny_synth, tmp_path, capsys):
    config = load_config(None, tiny_overrides(tiny_synth, standardize_input=False))
    validate_with(Trainer(config, tmp_path / "run", quiet=False), one_point)
    warning = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:"))
    assert "restart with standardize_input=true, a longer warmup_steps" in warning


def test_spread_embeddings_get_no_warning(tiny_synth, tmp_path, capsys):
    trainer = Trainer(load_config(None, tiny_overrides(tiny_synth)), tmp_path / "run", quiet=False)
    validate_with(trainer, spread_out)
    captured = capsys.readouterr()
    assert "warning:" not in captured.out + captured.err
    assert val_records(tmp_path / "run")[-1]["embedding_spread"] > 1.5  # random unit vectors: ~2
