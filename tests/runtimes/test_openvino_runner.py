"""The OpenVINO runner's refusals: each is one line naming what to do (real runs: tests/test_verify.py)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from fec.runtimes import create_runner
from fec.runtimes.backends import get_backend
from fec.runtimes.base import RunnerError


def test_without_openvino_the_runner_and_its_backends_say_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` raises ImportError
    runner = create_runner("openvino", model=tmp_path / "model.onnx")
    with pytest.raises(RunnerError, match=r"^OpenVINO is not installed; pip install openvino"):
        runner.activate()
    assert get_backend("openvino").unavailable() == "openvino is not installed (pip install openvino)"
    assert get_backend("openvino-bf16").unavailable() == "openvino is not installed (pip install openvino)"


def test_options_are_checked_before_anything_loads(tmp_path):
    with pytest.raises(RunnerError, match=r"^openvino: precision must be one of fp32, bf16, got 'fp16'$"):
        create_runner("openvino", model=tmp_path / "model.onnx", precision="fp16")
    pytest.importorskip("openvino", reason="OpenVINO is an optional extra")
    with pytest.raises(RunnerError, match=r"model.onnx: ONNX file not found$"):
        create_runner("openvino", model=tmp_path / "model.onnx").activate()
    (tmp_path / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(RunnerError, match=r"^openvino: cannot load .*model.onnx"):
        create_runner("openvino", model=tmp_path / "model.onnx").activate()


def test_bf16_backend_is_timed_and_reported_as_bf16_on_fp32_exports():
    backend = get_backend("openvino-bf16")
    assert (backend.kind, backend.runner, backend.options) == ("onnx", "openvino", {"precision": "bf16"})
    assert backend.row_precision("fp32") == "bf16" and backend.row_precision("int8") == "int8"
    assert get_backend("openvino").row_precision("fp32") == "fp32"


def test_bf16_is_refused_where_fec_hardware_says_the_cpu_emulates_it(cpu_kind, tmp_path):
    """The runner reads the same answer as the backend registry: no bf16 under its name on an AVX2 CPU."""
    pytest.importorskip("openvino", reason="OpenVINO is an optional extra")
    if cpu_kind.native_bf16:
        pytest.skip("the refusal is the AVX2 branch; the Zen 4 branch compiles bf16 (next test, and tests/test_verify.py)")
    from test_onnxruntime_runner import tiny_model

    tiny_model(tmp_path / "model.onnx")
    with pytest.raises(RunnerError, match=r"^openvino: this CPU has no native bf16 \(AVX-512 BF16 or AMX, with oneDNN "
                                          r"allowed to use it\); use precision fp32 here$"):
        create_runner("openvino", model=tmp_path / "model.onnx", precision="bf16").activate()


def test_a_precision_openvino_does_not_compile_is_refused_not_run_under_its_name(monkeypatch, tmp_path):
    """fec.hardware claiming bf16 on a CPU where OpenVINO compiles f32 (as it silently does where bf16 is not native)."""
    pytest.importorskip("openvino", reason="OpenVINO is an optional extra")
    from test_onnxruntime_runner import tiny_model

    from fec.hardware import native_bf16
    from fec.runtimes import openvino_runner

    if native_bf16():
        pytest.skip("this CPU does bf16 natively: OpenVINO compiles what is asked for")
    tiny_model(tmp_path / "model.onnx")
    monkeypatch.setattr(openvino_runner, "native_bf16", lambda: True)
    with pytest.raises(RunnerError, match=r"^openvino: asked for bf16, but OpenVINO compiled .*model.onnx in f32; "
                                          r"use precision fp32 here$"):
        create_runner("openvino", model=tmp_path / "model.onnx", precision="bf16").activate()
    with create_runner("openvino", model=tmp_path / "model.onnx") as runner:  # fp32 is what it compiles
        assert runner.describe()["inference_precision"] == "f32"
        embeddings = runner.infer(np.ones((2, 3, 8, 8), np.float32))
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-6)


def test_static_shapes_compile_each_batch_size_once_and_compute_what_the_dynamic_model_does(tmp_path):
    """openvino-static: the model reshaped and compiled for each batch size it is given, as OpenVINO users compile."""
    pytest.importorskip("openvino", reason="OpenVINO is an optional extra")
    from test_onnxruntime_runner import tiny_model

    tiny_model(tmp_path / "model.onnx")
    batches = {size: np.random.default_rng(size).random((size, 3, 8, 8), np.float32) for size in (2, 3)}
    with create_runner("openvino", model=tmp_path / "model.onnx") as dynamic, \
            create_runner("openvino", model=tmp_path / "model.onnx", static_shapes=True) as static:
        for batch in batches.values():
            assert np.allclose(static.infer(batch), dynamic.infer(batch), atol=1e-6)
        static.infer(batches[2])
        assert sorted(static.by_batch) == [2, 3]  # compiled once per size, reused
        assert [compiled.inputs[0].get_partial_shape().is_static for compiled, _ in static.by_batch.values()] == [True, True]
        assert static.describe()["static_shapes"] is True


def test_openvinos_default_hints_are_the_peers_and_take_fp32_files_only(tmp_path):
    pytest.importorskip("openvino", reason="OpenVINO is an optional extra")
    from test_onnxruntime_runner import tiny_model

    tiny_model(tmp_path / "model.onnx")
    with create_runner("openvino", model=tmp_path / "model.onnx", hints="default", threads=1) as runner:
        described = runner.describe()
        embeddings = runner.infer(np.ones((2, 3, 8, 8), np.float32))
    assert described["hints"] == "default" and described["inference_precision"] in ("f32", "bf16")
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-3)
    with pytest.raises(RunnerError, match=r"^openvino: hints must be one of fec, default \(default with precision fp32 only\)$"):
        create_runner("openvino", model=tmp_path / "model.onnx", hints="default", precision="bf16")
    assert get_backend("openvino-defaults").options == {"hints": "default"} and get_backend("openvino-defaults").forms == ()
