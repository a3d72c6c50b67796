"""Fixtures of the benchmark tests: a fake clock, and a one-step checkpoint of a tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest


class FakeClock:
    """A clock that only moves when a fake inference says how long it took."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class DelayedRunner:
    """run_once() that advances the fake clock by the next of `delays_ms` (then repeats the last one)."""

    def __init__(self, clock: FakeClock, delays_ms):
        self.clock, self.delays_ms, self.calls = clock, list(delays_ms), 0

    def __call__(self) -> None:
        delay = self.delays_ms[min(self.calls, len(self.delays_ms) - 1)]
        self.calls += 1
        self.clock.now += delay / 1000.0


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def delayed(fake_clock):
    def make(delays_ms) -> DelayedRunner:
        return DelayedRunner(fake_clock, delays_ms)

    return make


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_synth, tmp_path_factory) -> Path:
    """A MobileNetV3-small FECNet trained for one step at 64 px: something to time, not to trust."""
    from fec.train.config import load_config
    from fec.train.trainer import Trainer

    run_dir = tmp_path_factory.mktemp("bench_run")
    config = load_config(None, {"data": str(tiny_synth), "model": "mobilenet_v3_small", "input_size": 64,
                                "max_steps": 1, "batch_size": 8, "face_size": 64, "val_fraction": 0.0, "amp": "off"})
    Trainer(config, run_dir, quiet=True).fit()
    return run_dir / "last.pt"
