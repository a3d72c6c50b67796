"""TensorRT runner. Most tests drive it with a recording FAKE of the tensorrt module (fake_tensorrt.py):
they check the sidecar checks and the name-based execution calls, not real engines. The test marked
`tensorrt` builds and runs a real engine and is skipped unless TensorRT and a CUDA GPU are present.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from fake_tensorrt import fake_embeddings, make_fake_tensorrt
from test_onnxruntime_runner import tiny_model

from fec.export import EngineOptions
from fec.export.tensorrt_build import BatchProfile, build_engine
from fec.hardware import GpuInfo
from fec.runtimes import create_runner
from fec.runtimes.base import RunnerError
from fec.runtimes.tensorrt_runner import EngineMismatchError, TensorRTRunner

L4, A10 = GpuInfo("NVIDIA L4", "8.9"), GpuInfo("NVIDIA A10", "8.6")
T4, H100 = GpuInfo("Tesla T4", "7.5"), GpuInfo("NVIDIA H100", "9.0")
REBUILD = "fec-export export/m/model.onnx --format trt --max-batch 8 --opt-batch 4 --out export/m"


def engine(tmp_path, version="10.8.0.43", gpu=L4, **options):
    """A fake engine built from a tiny ONNX model; returns its plan path."""
    tiny_model(tmp_path / "model.onnx")
    trt = make_fake_tensorrt(version)
    build_engine(tmp_path / "model.onnx", tmp_path / "model.plan", "fp32", BatchProfile(1, 4, 8),
                 EngineOptions(timing_cache=tmp_path / "timing.cache", **options), REBUILD, trt=trt, gpu=gpu)
    return tmp_path / "model.plan"


def runner_on(plan, version="10.8.0.43", gpu=L4) -> tuple[TensorRTRunner, object]:
    trt = make_fake_tensorrt(version)
    return TensorRTRunner(plan, trt=trt, gpu=gpu, memory=trt.memory), trt


def test_inference_uses_the_name_based_api_and_returns_the_engine_output(tmp_path):
    runner, trt = runner_on(engine(tmp_path))
    batch = np.random.default_rng(0).random((5, 3, 8, 8), dtype=np.float32)

    with runner:
        embeddings = runner.infer(batch)
        described = runner.describe()

    np.testing.assert_allclose(embeddings, fake_embeddings(batch))
    steps = [call for call in trt.calls if call[0] in ("upload", "set_input_shape", "set_tensor_address",
                                                       "execute_async_v3", "download")]
    assert steps == [("upload", (5, 3, 8, 8)), ("set_input_shape", "images", (5, 3, 8, 8)),
                     ("set_tensor_address", "images"), ("set_tensor_address", "embeddings"),
                     ("execute_async_v3", 0xBEEF), ("download",)]
    assert (runner.input_size, runner.max_batch) == (8, 8)
    assert described == {"runner": "tensorrt", "engine": str(tmp_path / "model.plan"), "cuda_graphs": False,
                         "tensorrt": "10.8.0.43",
                         "gpu": "NVIDIA L4", "compute_capability": "8.9", "precision": "fp32"}
    with runner, pytest.raises(RunnerError, match="batch 9 exceeds the maximum 8"):
        runner.infer(np.zeros((9, 3, 8, 8), np.float32))


def test_cuda_graphs_capture_once_per_shape_then_replay_on_the_same_buffers(tmp_path):
    trt = make_fake_tensorrt()
    runner = TensorRTRunner(engine(tmp_path), trt=trt, gpu=L4, memory=trt.memory, cuda_graphs=True)
    first, second = np.random.default_rng(1).random((2, 3, 3, 8, 8), dtype=np.float32)

    with runner:
        assert runner.cuda_device == 0 and runner.describe()["cuda_graphs"] is True
        np.testing.assert_allclose(runner.infer(first), fake_embeddings(first))
        captured = len(trt.calls)
        np.testing.assert_allclose(runner.infer(second), fake_embeddings(second))  # new data through the static buffer
        replayed = trt.calls[captured:]
        np.testing.assert_allclose(runner.infer(first[:1]), fake_embeddings(first[:1]))
        # back to batch 3 after batch 1 was captured: its graph still runs on its own context and buffers
        third = np.random.default_rng(2).random((3, 3, 8, 8), dtype=np.float32)
        np.testing.assert_allclose(runner.infer(third), fake_embeddings(third))

    # first call: bind static buffers, one plain run, capture (not run), copy in, replay (runs), copy out
    assert [call[0] for call in trt.calls[:captured] if call[0] != "deserialize_cuda_engine"] == [
        "upload", "set_input_shape", "set_tensor_address", "set_tensor_address", "execute_async_v3",
        "capture", "copy_into", "replay", "execute_async_v3", "download"]
    assert [call[0] for call in replayed] == ["copy_into", "replay", "execute_async_v3", "download"]
    assert [call[0] for call in trt.calls].count("capture") == 2 and not runner.graphs  # batch 3 and 1; released


@pytest.mark.parametrize("cuda_graphs", [False, True])
def test_an_engine_for_a_second_gpu_is_loaded_and_run_with_that_gpu_current(tmp_path, cuda_graphs):
    trt = make_fake_tensorrt()
    trt.memory.device = 1
    runner = TensorRTRunner(engine(tmp_path), device=1, trt=trt, gpu=L4, memory=trt.memory, cuda_graphs=cuda_graphs)
    batch = np.random.default_rng(3).random((2, 3, 8, 8), dtype=np.float32)

    with runner:
        np.testing.assert_allclose(runner.infer(batch), fake_embeddings(batch))

    assert {device for _, device in trt.device_log} == {1}
    assert trt.memory.current_device == 0  # the caller's current device is left as it was
    assert [what for what, _ in trt.device_log][:2] == ["deserialize_cuda_engine", "create_execution_context"]


@pytest.mark.parametrize(("version", "gpu", "differs"), [
    ("10.9.0.1", L4, "TensorRT 10.8.0.43 vs 10.9.0.1 here"),
    ("10.8.0.43", A10, "GPU NVIDIA L4 (sm_89) vs NVIDIA A10 (sm_86) here"),
    ("11.1.0.7", H100, "TensorRT 10.8.0.43 vs 11.1.0.7 here; GPU NVIDIA L4 (sm_89) vs NVIDIA H100 (sm_90) here"),
])
def test_an_engine_from_another_tensorrt_or_gpu_fails_in_one_line_with_the_rebuild_command(tmp_path, version, gpu, differs):
    runner, trt = runner_on(engine(tmp_path), version, gpu)

    with pytest.raises(EngineMismatchError) as caught:
        runner.activate()

    message = str(caught.value)
    assert message == f"{tmp_path / 'model.plan'}: engine built for another machine ({differs}); rebuild it here: {REBUILD}"
    assert "\n" not in message and not [call for call in trt.calls if call[0] == "deserialize_cuda_engine"]


def test_version_compatible_engines_run_on_a_later_release_of_the_same_major(tmp_path):
    plan = engine(tmp_path, version_compatible=True)
    runner, trt = runner_on(plan, "10.9.0.1")
    with runner:
        runner.infer(np.ones((1, 3, 8, 8), np.float32))
    assert [call for call in trt.calls if call[0] == "deserialize_cuda_engine"] == [("deserialize_cuda_engine", True)]

    with pytest.raises(EngineMismatchError, match=r"version-compatible within 10.x, not older\) vs 11.1.0.7 here"):
        runner_on(plan, "11.1.0.7")[0].activate()


def test_ampere_plus_engines_run_on_other_ampere_gpus_but_not_on_turing(tmp_path):
    plan = engine(tmp_path, hardware_compatibility="ampere+")
    with runner_on(plan, gpu=A10)[0] as runner:
        assert runner.infer(np.ones((2, 3, 8, 8), np.float32)).shape == (2, 16)

    with pytest.raises(EngineMismatchError, match=r"GPU Tesla T4 \(sm_75\) is older than Ampere"):
        runner_on(plan, gpu=T4)[0].activate()


def test_a_changed_plan_or_a_missing_sidecar_is_caught(tmp_path):
    plan = engine(tmp_path)
    plan.write_bytes(plan.read_bytes() + b"tampered")
    with pytest.raises(RunnerError, match=f"engine differs from the one its sidecar describes; rebuild: {REBUILD}"):
        runner_on(plan)[0].activate()

    (tmp_path / "model.plan.json").unlink()
    with pytest.raises(RunnerError, match="no sidecar model.plan.json beside the engine"):
        runner_on(plan)[0].activate()


def test_missing_tensorrt_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(RunnerError, match=r"^TensorRT is not installed; install NVIDIA's TensorRT Python wheel"):
        create_runner("tensorrt", engine=tmp_path / "model.plan").activate()


def _real_tensorrt_and_gpu() -> bool:
    if importlib.util.find_spec("tensorrt") is None:
        return False
    import torch

    return torch.cuda.is_available()


@pytest.mark.tensorrt
@pytest.mark.skipif(not _real_tensorrt_and_gpu(), reason="needs TensorRT and a CUDA GPU (not on CPU-only machines)")
def test_a_real_engine_matches_onnx_runtime(tmp_path):
    tiny_model(tmp_path / "model.onnx")
    build_engine(tmp_path / "model.onnx", tmp_path / "model.plan", "fp32", BatchProfile(1, 4, 8),
                 EngineOptions(timing_cache=tmp_path / "timing.cache"), "rebuild")
    batch = np.random.default_rng(0).random((6, 3, 8, 8), dtype=np.float32)

    with create_runner("tensorrt", engine=tmp_path / "model.plan") as engine_runner:
        embeddings = engine_runner.infer(batch)
    with create_runner("onnxruntime", model=tmp_path / "model.onnx") as reference:
        expected = reference.infer(batch)

    np.testing.assert_allclose(embeddings, expected, atol=1e-4)
