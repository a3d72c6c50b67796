"""Targets, backend planning and input batches (no model is run here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fec.bench import BenchError
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
