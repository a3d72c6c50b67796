"""Training throughput: loader vs cached-batch rates from known delays on a fake clock; a real run on tiny data."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from fec.bench import BenchError
from fec.bench.train_throughput import measure_training
from fec.cli.bench import main
from fec.hardware import native_bf16


class FakeTrainer:
    """Loading a batch costs `load_ms`, a step `step_ms`, on the fake clock; records what each step was given."""

    device = torch.device("cpu")

    def __init__(self, clock, load_ms: float, step_ms: float, triplets: int = 4):
        self.clock, self.load_ms, self.step_ms, self.triplets = clock, load_ms, step_ms, triplets
        self.loader_ends, self.fed = [], []

    def _loader(self, end: int):
        self.loader_ends.append(end)
        for step in range(end):
            self.clock.now += self.load_ms / 1000.0
            yield {"images": torch.zeros(self.triplets, 3, 3, 2, 2, dtype=torch.uint8), "step": step}

    def train_step(self, batch) -> float:
        self.clock.now += self.step_ms / 1000.0
        self.fed.append(batch["step"])
        return 0.5


def test_rates_and_ratio_from_known_load_and_step_times(fake_clock):
    trainer = FakeTrainer(fake_clock, load_ms=5.0, step_ms=20.0)
    result = measure_training(trainer, steps=10, warmup=3, clock=fake_clock)

    assert trainer.loader_ends == [13]                                   # 3 warm-up + 10 timed batches
    assert trainer.fed == list(range(13)) + [12] * 10                    # then the last batch, ten times
    assert result.images_per_step == 12
    assert result.loader_s == pytest.approx(0.250) and result.cached_s == pytest.approx(0.200)
    assert result.loader_images_per_s == pytest.approx(120 / 0.25) and result.cached_images_per_s == pytest.approx(600)
    assert result.ratio == pytest.approx(0.8)
    assert "holds training back (20% slower" in result.verdict(num_workers=0)
    assert "keeps up" in measure_training(FakeTrainer(fake_clock, 0.5, 20.0), 10, clock=fake_clock).verdict(0)


def test_bad_step_counts_are_user_errors(fake_clock):
    with pytest.raises(BenchError, match="need steps >= 1"):
        measure_training(FakeTrainer(fake_clock, 1.0, 1.0), steps=0)


def parse_table(text: str) -> list[dict]:
    lines = [line.split() for line in text.splitlines()[:3]]
    return [dict(zip(lines[0], line)) for line in lines[1:]]


def test_real_training_steps_on_tiny_data_json_equals_table(tiny_synth, tmp_path):
    result = CliRunner().invoke(main, ["train", "--data", str(tiny_synth), "--steps", "3", "--warmup-steps", "1",
                                       "--device", "cpu", "--set", "model=mobilenet_v3_small", "--set", "input_size=64",
                                       "--set", "batch_size=4", "--set", "face_size=64", "--set", "val_fraction=0",
                                       "--json", str(tmp_path / "train.json")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "train.json").read_text())
    table = parse_table(result.output)

    assert report["format"] == "fec-bench-train/2" and report["device"] == "cpu"
    assert report["amp"]["setting"] == "auto" and report["amp"]["dtype"] == ("bf16" if native_bf16() else "fp32")
    assert [row["mode"] for row in report["rows"]] == ["data-loader", "cached-batch"]
    for row, line in zip(report["rows"], table):
        assert row["steps"] == 3 and row["images"] == 3 * 4 * 3 and row["images_per_s"] > 0
        assert {key: str(value) for key, value in row.items()} == line
    assert report["ratio"] > 0 and f"ratio (data-loader / cached-batch): {report['ratio']}" in result.output
    assert report["settings"]["batch_size"] == 4


def test_a_bad_config_key_is_one_line(tiny_synth):
    result = CliRunner().invoke(main, ["train", "--data", str(tiny_synth), "--set", "nope=1"])
    assert result.exit_code == 2 and result.output.startswith("error: unknown config key(s) nope")
