"""benchmarks/plateau_probe.py: the linear-fit measure, the init probe and the training trace."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import load_benchmark_script

script = load_benchmark_script("plateau_probe")


def test_explained_variance_is_one_for_a_linear_target_and_near_zero_for_noise():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(500, 3))
    linear = features @ rng.normal(size=(3, 4)) + 2.0
    assert script.explained_variance(linear, features) == pytest.approx(1.0)
    assert abs(script.explained_variance(rng.normal(size=(500, 4)), features)) < 0.03


def test_init_and_trace_report_their_measures(tiny_synth, tmp_path, capsys):
    assert script.main(["init", "--data", str(tiny_synth), "--faces", "20", "--standardize-input"]) == 0
    init = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert init["faces"] == 20 and init["standardize_input"] is True
    assert 0 <= init["r2_from_expression"] <= 1 and 0 <= init["r2_from_colour"] <= 1

    assert script.main(["trace", "--data", str(tiny_synth), "--steps", "4", "--every", "2", "--out", str(tmp_path / "run"),
                        "--set", "model=compact_cnn", "--set", "batch_size=4", "--set", "face_size=48",
                        "--set", "max_steps=4", "--set", "val_fraction=0"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [line["step"] for line in lines[:-1]] == [0, 2]  # the batch index: step 0 is the first batch
    assert all(0 <= line["spread"] <= 4 and line["grad_trunk"] > 0 for line in lines[:-1])
    assert lines[-1]["step"] == 4
