"""ONNX Runtime runner: real runs on the CPU provider; the provider that ran is read back, never assumed."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from fec.runtimes import create_runner
from fec.runtimes.base import RunnerError

WEIGHT = np.arange(48, dtype=np.float32).reshape(3, 16) / 10 - 2


def tiny_model(path, uint8_input: bool = False) -> None:
    """images -> channel means -> Gemm -> L2 normalise, with a float NCHW or a uint8 NHWC input."""
    axes = [1, 2] if uint8_input else [2, 3]
    nodes = [helper.make_node("Cast", ["images"], ["pixels"], to=TensorProto.FLOAT)] if uint8_input else []
    nodes += [
        helper.make_node("ReduceMean", ["pixels" if uint8_input else "images", "axes"], ["means"], keepdims=0),
        helper.make_node("Gemm", ["means", "weight"], ["raw"]),
        helper.make_node("ReduceL2", ["raw", "last"], ["norm"], keepdims=1),
        helper.make_node("Div", ["raw", "norm"], ["embeddings"]),
    ]
    shape = ["batch", 8, 8, 3] if uint8_input else ["batch", 3, 8, 8]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("images", TensorProto.UINT8 if uint8_input else TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", 16])],
        [numpy_helper.from_array(WEIGHT, "weight"), numpy_helper.from_array(np.array(axes, np.int64), "axes"),
         numpy_helper.from_array(np.array([1], np.int64), "last")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(path))


def expected(batch: np.ndarray, channels_last: bool = False) -> np.ndarray:
    raw = batch.astype(np.float32).mean(axis=(1, 2) if channels_last else (2, 3)) @ WEIGHT
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


def test_cpu_runner_computes_the_graph_and_reports_the_provider_that_ran(tmp_path):
    tiny_model(tmp_path / "model.onnx")
    batch = np.random.default_rng(0).random((5, 3, 8, 8), dtype=np.float32)

    with create_runner("onnxruntime", model=tmp_path / "model.onnx") as runner:
        embeddings = runner.infer(batch)
        described = runner.describe()

    np.testing.assert_allclose(embeddings, expected(batch), rtol=1e-5)
    assert (runner.input_size, runner.input_format, runner.max_batch) == (8, "float32-nchw", None)
    assert (described["provider"], described["providers"]) == ("CPUExecutionProvider", ["CPUExecutionProvider"])


def test_uint8_models_take_pictures_and_reject_float_batches(tmp_path):
    tiny_model(tmp_path / "model.onnx", uint8_input=True)
    pictures = np.random.default_rng(1).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)

    with create_runner("onnxruntime", model=tmp_path / "model.onnx") as runner:
        np.testing.assert_allclose(runner.infer(pictures), expected(pictures, channels_last=True), rtol=1e-5)
        with pytest.raises(RunnerError, match=r"takes uint8 RGB batches \(N, H, W, 3\), got float32"):
            runner.infer(pictures.astype(np.float32))
        with pytest.raises(RunnerError, match="input must be 8x8, got 4x4"):
            runner.infer(pictures[:, :4, :4])


def test_a_provider_this_build_lacks_is_an_error_naming_what_exists(tmp_path):
    tiny_model(tmp_path / "model.onnx")
    runner = create_runner("onnxruntime", model=tmp_path / "model.onnx", provider="cuda")

    with pytest.raises(RunnerError, match=r"has no CUDAExecutionProvider here \(available: .*CPUExecutionProvider.*\); "
                                          r"pip install onnxruntime"):
        runner.activate()


def test_a_silent_fallback_to_the_cpu_is_caught(tmp_path, monkeypatch):
    """onnxruntime-gpu lists CUDA even when its libraries are missing, then quietly runs on the CPU."""
    tiny_model(tmp_path / "model.onnx")
    real_session = onnxruntime.InferenceSession
    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(onnxruntime, "InferenceSession",
                        lambda path, options, providers: real_session(path, options, providers=["CPUExecutionProvider"]))

    with pytest.raises(RunnerError, match="asked for CUDAExecutionProvider but the session runs on CPUExecutionProvider"):
        create_runner("onnxruntime", model=tmp_path / "model.onnx", provider="cuda").activate()


def test_missing_onnxruntime_unknown_provider_and_missing_file_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(RunnerError, match="provider must be one of cpu, cuda, tensorrt, got 'rocm'"):
        create_runner("onnxruntime", model=tmp_path / "model.onnx", provider="rocm")
    with pytest.raises(RunnerError, match="model.onnx: ONNX file not found"):
        create_runner("onnxruntime", model=tmp_path / "model.onnx").activate()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(RunnerError, match=r"onnxruntime is not installed; pip install onnxruntime \(CPU\) or onnxruntime-gpu"):
        create_runner("onnxruntime", model=tmp_path / "model.onnx").activate()


def recording_session(monkeypatch, provider_name: str) -> list:
    """InferenceSession that records the providers it is given and reports `provider_name` as running."""
    seen = []

    class Session:
        def __init__(self, path, options, providers):
            seen.append(providers)

        def get_providers(self):
            return [provider_name, "CPUExecutionProvider"]

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [provider_name, "CPUExecutionProvider"])
    monkeypatch.setattr(onnxruntime, "InferenceSession", Session)
    return seen


def test_tensorrt_provider_gets_engine_and_timing_caches_fp16_and_a_profile(tmp_path, monkeypatch):
    from fec.runtimes.onnxruntime_runner import tensorrt_profile

    tiny_model(tmp_path / "model.onnx")
    seen = recording_session(monkeypatch, "TensorrtExecutionProvider")
    profile = tensorrt_profile("images", (3, 8, 8), 1, 4, 16)
    runner = create_runner("onnxruntime", model=tmp_path / "model.onnx", provider="tensorrt", fp16=True,
                           cache_dir=tmp_path / "cache", provider_options=profile)
    runner.session = runner._session(onnxruntime, "TensorrtExecutionProvider")

    (name, options), fallback = seen[0]
    assert name == "TensorrtExecutionProvider" and fallback == ("CPUExecutionProvider", {})
    assert options == {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(tmp_path / "cache"),
                       "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(tmp_path / "cache"),
                       "trt_fp16_enable": "True", "trt_profile_min_shapes": "images:1x3x8x8",
                       "trt_profile_opt_shapes": "images:4x3x8x8", "trt_profile_max_shapes": "images:16x3x8x8"}
    assert (tmp_path / "cache").is_dir() and runner.cuda_device == 0 and runner.cuda_memory_tracked is False


def test_tensorrt_engine_cache_defaults_to_one_folder_per_model_file(tmp_path, monkeypatch):
    tiny_model(tmp_path / "model.onnx")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    seen = recording_session(monkeypatch, "TensorrtExecutionProvider")
    runner = create_runner("onnxruntime", model=tmp_path / "model.onnx", provider="tensorrt")
    runner.session = runner._session(onnxruntime, "TensorrtExecutionProvider")

    options = seen[0][0][1]
    cache = Path(options["trt_engine_cache_path"])
    assert cache.parent == tmp_path / "xdg" / "fec" / "onnxruntime-tensorrt" and len(cache.name) == 16
    assert options["trt_fp16_enable"] == "False"


def test_cuda_provider_runs_on_device_0_unless_told_and_fp16_is_only_for_tensorrt(tmp_path):
    assert create_runner("onnxruntime", model="m.onnx", provider="cuda").cuda_device == 0
    assert create_runner("onnxruntime", model="m.onnx", provider="cuda", provider_options={"device_id": 1}).cuda_device == 1
    assert create_runner("onnxruntime", model="m.onnx").cuda_device is None
    with pytest.raises(RunnerError, match="fp16 and cache_dir are options of the tensorrt provider, not 'cuda'"):
        create_runner("onnxruntime", model="m.onnx", provider="cuda", fp16=True)


def test_cuda_provider_computes_fp32_without_tf32_unless_told(tmp_path, monkeypatch):
    tiny_model(tmp_path / "model.onnx")
    seen = recording_session(monkeypatch, "CUDAExecutionProvider")
    create_runner("onnxruntime", model=tmp_path / "model.onnx", provider="cuda")._session(onnxruntime, "CUDAExecutionProvider")
    create_runner("onnxruntime", model=tmp_path / "model.onnx", provider="cuda",
                  provider_options={"use_tf32": "1", "device_id": 1})._session(onnxruntime, "CUDAExecutionProvider")
    assert [providers[0] for providers in seen] == [("CUDAExecutionProvider", {"use_tf32": "0"}),
                                                    ("CUDAExecutionProvider", {"use_tf32": "1", "device_id": 1})]
