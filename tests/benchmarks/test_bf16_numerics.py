"""benchmarks/bf16_numerics.py: both emulations really round to bf16, and the figures are fec-verify's."""

from __future__ import annotations

import json

import pytest

from tests.helpers import load_benchmark_script

script = load_benchmark_script("bf16_numerics")


@pytest.fixture(scope="module")
def compact_checkpoint(tiny_synth, tmp_path_factory):
    from fec.train.config import load_config
    from fec.train.trainer import Trainer

    run = tmp_path_factory.mktemp("bf16_run")
    config = load_config(None, {"data": str(tiny_synth), "model": "compact_cnn", "max_steps": 1, "batch_size": 8,
                                "face_size": 48, "val_fraction": 0.0, "seed": 0})
    Trainer(config, run, quiet=True).fit()
    return run / "last.pt"


def test_both_emulations_move_the_embeddings_and_report_what_fec_verify_judges(compact_checkpoint, tiny_synth,
                                                                                 tmp_path, capsys):
    out = tmp_path / "bf16.json"
    assert script.main([str(compact_checkpoint), "--data", str(tiny_synth / "test.csv"), "--triplets", "8",
                        "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (result["triplets"], sorted(result["emulations"])) == (8, ["all-bf16", "autocast"])
    for row in result["emulations"].values():
        assert 0.9 < row["min_cos"] < 1.0 - 1e-7  # rounded to bf16 (fp32 run twice gives exactly 1)
        assert 0.0 <= row["flips"] <= 1.0 and abs(row["delta_pt"]) <= 100.0 * row["flips"] + 1e-9
    printed = capsys.readouterr().out
    assert "| autocast | " in printed and f"{result['triplets']} triplets" in printed and "ATen" in printed


def test_a_missing_checkpoint_is_one_line_and_exit_2(tiny_synth, tmp_path, capsys):
    assert script.main([str(tmp_path / "absent.pt"), "--data", str(tiny_synth / "test.csv")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "absent.pt" in error and error.count("\n") == 1


def test_a_count_that_is_not_positive_is_a_usage_error(tiny_synth, tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        script.main([str(tmp_path / "model.pt"), "--data", str(tiny_synth / "test.csv"), "--triplets", "0"])
    assert raised.value.code == 2 and "--triplets: '0' is not a positive count" in capsys.readouterr().err
