"""The torch_compile runner: registered, compiles on activate, matches eager outputs, restores the eager model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fec.data.dataset import FaceCrops
from fec.runtimes import create_runner, list_runners
from fec.runtimes.base import RunnerError
from tests.helpers import tiny_torch_model as tiny_model


def test_compiled_model_matches_eager_and_is_released():
    model = tiny_model()
    batch = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    runner = create_runner("torch_compile", checkpoint="unused.pt", model=model, compile_backend="eager")

    with runner:
        assert runner.model is not model and runner.eager_model is model  # a compiled wrapper of the same model
        embeddings = runner.infer(batch)
        assert runner.describe()["compile_backend"] == "eager" and runner.describe()["runner"] == "torch_compile"
    assert runner.model is model
    assert "torch_compile" in list_runners()
    np.testing.assert_allclose(embeddings, expected, atol=1e-6)


def test_unknown_compile_mode_is_a_runner_error():
    with pytest.raises(RunnerError, match="mode must be one of"):
        create_runner("torch_compile", checkpoint="unused.pt", mode="fastest")


def test_bench_primes_each_batch_before_timing(monkeypatch):
    """The first call of each batch (where torch.compile compiles) is made before warm-up and timing."""
    import fec.bench.backend_rows as backend_rows
    from fec.bench import MeasureSettings
    from fec.bench.options import BenchOptions
    from fec.bench.run import bench_targets
    from fec.bench.targets import Target
    from fec.preprocessing import Preprocessing
    from fec.runtimes.base import Runner

    class Counting(Runner):
        name = "counting"
        calls: list[int] = []

        def infer_impl(self, batch):
            self.calls.append(batch.shape[0])
            return np.zeros((batch.shape[0], 16), np.float32)

    monkeypatch.setattr(backend_rows, "create_bench_runner", lambda target, backend, threads: Counting())
    target = Target(path="m.pt", files={"checkpoint": "m.pt"}, prep=Preprocessing(8), precision="fp32",
                    crops=FaceCrops(size=8))
    options = BenchOptions(backends=["torch_compile"], batches=[1, 3], settings=MeasureSettings(warmup_iters=2, iters=2))
    rows = bench_targets([target], options).rows

    # per batch: 1 priming call + 2 warm-up + at least 2 windows of 2 timed iterations
    assert [row.batch for row in rows] == [1, 3]
    for row, batch in zip(rows, (1, 3)):
        assert Counting.calls.count(batch) == 1 + 2 + row.measurement.windows * 2
        assert row.measurement.iterations == 4 and row.inputs == "random"
