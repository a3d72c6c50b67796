"""Targets, backend planning and input batches (no model is run here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fec.bench import BenchError
from fec.bench import MeasureSettings
from fec.bench.run import Target, input_batch, plan, resolve_target
from fec.preprocessing import Preprocessing

PREP = Preprocessing(32)


def target(kind: str) -> Target:
    return Target(Path(f"model-{kind}"), kind, PREP, "fp32", Path("model"), 64, 0.0)


def test_default_plan_runs_every_backend_that_fits_each_target():
    checkpoint, onnx = target("checkpoint"), target("onnx")
    pairs = [(chosen.kind, backend) for chosen, backend in plan([checkpoint, onnx], None)]
    assert pairs == [("checkpoint", "torch"), ("checkpoint", "torch_compile"), ("onnx", "onnxruntime")]


def test_plan_keeps_only_the_requested_backends():
    pairs = plan([target("checkpoint"), target("onnx")], ["torch", "onnxruntime"])
    assert [backend for _, backend in pairs] == ["torch", "onnxruntime"]


@pytest.mark.parametrize("targets, backends, message", [
    (["checkpoint"], ["tensorflow"], "unknown backend 'tensorflow'; available: torch, torch_compile, onnxruntime"),
    (["checkpoint"], ["onnxruntime"], "backend 'onnxruntime' cannot run checkpoints"),
    (["onnx"], ["torch"], "backend 'torch' cannot run ONNX exports"),
    (["checkpoint", "onnx"], ["torch"], "none of the chosen backends can run it"),
])
def test_plan_rejects_backends_that_cannot_run_the_targets(targets, backends, message):
    with pytest.raises(BenchError, match=message.replace("(", r"\(")):
        plan([target(kind) for kind in targets], backends)


def test_missing_target_and_foreign_folder_are_user_errors(tmp_path):
    from fec.errors import FecError

    with pytest.raises(BenchError, match="target not found"):
        resolve_target(tmp_path / "nothing.pt")
    with pytest.raises(FecError, match="not an export folder"):
        resolve_target(tmp_path)


def test_face_batches_repeat_real_faces_and_normalise_them():
    faces = np.random.default_rng(0).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    batch = input_batch(faces, 5, PREP, uint8_input=False)
    raw = input_batch(faces, 5, PREP, uint8_input=True)

    assert batch.shape == (5, 3, 32, 32) and batch.dtype == np.float32
    assert np.array_equal(raw[3], faces[0]) and np.array_equal(raw[4], faces[1])
    expected = (faces[0] / 255.0 - np.asarray(PREP.mean)) / np.asarray(PREP.std)
    assert np.allclose(batch[3], expected.transpose(2, 0, 1), atol=1e-5)


def test_random_batches_are_never_zeros():
    floats = input_batch(None, 4, PREP, uint8_input=False)
    pixels = input_batch(None, 4, PREP, uint8_input=True)

    assert floats.shape == (4, 3, 32, 32) and floats.dtype == np.float32 and 0.8 < floats.std() < 1.2
    assert pixels.dtype == np.uint8 and pixels.min() >= 1


class FakeProbe:
    """Stands in for CudaProbe: counts synchronisations and hands out a known peak per reset."""

    def __init__(self, peaks_mb):
        self.peaks_mb, self.resets, self.syncs = list(peaks_mb), 0, 0

    def synchronize(self) -> None:
        self.syncs += 1

    def reset_peak(self) -> None:
        self.resets += 1

    def peak_mb(self) -> float:
        return self.peaks_mb[self.resets - 1]


class EchoRunner:
    """A host-side runner with the attributes bench_runner reads."""

    name, max_batch, input_format = "echo", None, "float32-nchw"
    cuda_device, cuda_memory_tracked = None, False

    def __init__(self):
        self.calls = 0

    def describe(self) -> dict:
        return {"runner": self.name, "device": "cuda:0"}

    def infer(self, batch):
        self.calls += 1
        return batch[:, :1, 0, 0]


def test_cuda_rows_synchronise_every_timed_iteration_and_report_peak_memory_per_batch():
    from fec.bench.run import bench_runner

    probe, runner = FakeProbe([120.04, 250.06]), EchoRunner()
    rows = bench_runner(runner, target("checkpoint"), "torch-cuda", [1, 4], MeasureSettings(warmup_iters=1, iters=2),
                        None, None, probe)

    assert [(row.batch, row.cuda_peak_mb) for row in rows] == [(1, 120.04), (4, 250.06)]
    assert probe.resets == 2
    timed = sum(row.measurement.windows * 2 for row in rows)
    assert probe.syncs == timed + 2        # one per timed iteration, plus one after each warm-up
    assert [row.record()["cuda_peak_mb"] for row in rows] == [120.0, 250.1]


def test_host_runners_get_no_probe_and_no_cuda_memory():
    from fec.bench.cuda import cuda_probe
    from fec.bench.run import bench_runner

    runner = EchoRunner()
    rows = bench_runner(runner, target("checkpoint"), "torch", [2], MeasureSettings(warmup_iters=0, iters=2), None, None,
                        cuda_probe(runner))
    assert cuda_probe(runner) is None and rows[0].cuda_peak_mb is None and rows[0].record()["cuda_peak_mb"] is None


def test_a_cuda_runner_gets_a_probe_that_reports_memory_only_when_torch_allocates_it(monkeypatch):
    import torch

    from fec.bench import cuda

    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device: calls.append(("sync", device)))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device: calls.append(("reset", device)))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 3 * 2 ** 20)
    runner = EchoRunner()
    runner.cuda_device, runner.cuda_memory_tracked = 1, True
    probe = cuda.cuda_probe(runner)
    probe.reset_peak()
    probe.synchronize()

    assert calls == [("sync", 1), ("reset", 1), ("sync", 1)] and probe.peak_mb() == 3.0
    runner.cuda_memory_tracked = False
    assert cuda.cuda_probe(runner).peak_mb() is None   # e.g. ONNX Runtime's own CUDA arena: unknown, not 0
