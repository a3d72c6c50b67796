"""The OpenVINO runner's refusals: each is one line naming what to do (real runs: tests/test_verify.py)."""

from __future__ import annotations

import sys

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
