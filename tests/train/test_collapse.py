"""A run whose embeddings collapse to one point says so at validation, and records the spread."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
from helpers import tiny_overrides

from fec.train.config import load_config
from fec.train.trainer import Trainer


def validate_with(trainer: Trainer, make_embeddings) -> None:
    """One validation whose embeddings are replaced by make_embeddings(shape)."""
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
    assert warnings == [warnings[0]] and "step 0: the embeddings have (nearly) collapsed to one point" in warnings[0]
    assert "restart with a longer warmup_steps, a larger batch_size or a lower lr" in warnings[0]
    assert val_records(tmp_path / "run")[-1]["embedding_spread"] == 0.0


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
