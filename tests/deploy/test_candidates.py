"""Which candidates fec-deploy tries on this machine, and why the others cannot run here."""

from __future__ import annotations

import re

import pytest

from fec.deploy.candidates import Candidate, ExportSpec, plan_candidates
from fec.errors import FecError
from fec.runtimes.backends import get_backend


def names(candidates) -> list[str]:
    return [candidate.name for candidate in candidates]


def test_every_known_pair_is_either_tried_or_skipped_with_its_reason():
    runnable, skipped = plan_candidates(float_below=(48, 16))
    assert names(runnable)[:4] == ["torch/checkpoint", "onnxruntime/onnx-fp32", "onnxruntime/onnx-fp16",
                                   "onnxruntime/onnx-int8-cpu-fb48"]
    for item in skipped:
        assert item.reason == get_backend(item.candidate.backend).unavailable() or "tensorrt" in item.reason.lower()
    assert not set(names(runnable)) & set(names(item.candidate for item in skipped))
    # 6 PyTorch (CPU; CUDA fp32, fp16, bf16; CUDA graphs fp32, fp16); ORT, OpenVINO and OpenVINO static shapes x
    # (fp32, fp16, 2 int8 by ONNX Runtime, 1 by NNCF); OpenVINO bf16; ORT CUDA x2, TensorRT provider x2; 2 engines
    assert len(runnable) + len(skipped) == 6 + 3 * 5 + 1 + 4 + 2


def test_openvino_bf16_is_tried_exactly_where_the_cpu_computes_bf16_natively(cpu_kind):
    pytest.importorskip("openvino", reason="OpenVINO is an optional extra")
    runnable, skipped = plan_candidates(precisions=("bf16",), backends=("openvino-bf16",))
    if cpu_kind.native_bf16:
        assert (names(runnable), skipped) == (["openvino-bf16/onnx-fp32"], [])
    else:
        assert names(runnable) == [] and [(item.candidate.name, item.reason) for item in skipped] == [
            ("openvino-bf16/onnx-fp32", "this CPU has no native bf16 (AVX-512 BF16 or AMX)")]


def test_precision_of_a_candidate_is_what_it_computes_in():
    assert Candidate("openvino-bf16", ExportSpec("onnx", "fp32")).precision == "bf16"
    assert Candidate("openvino", ExportSpec("onnx", "int8", 16)).precision == "int8"
    assert Candidate("torch").precision == "fp32" and Candidate("torch").name == "torch/checkpoint"


def test_filters_and_missing_calibration_data():
    runnable, skipped = plan_candidates(precisions=("fp32", "int8"), backends=("torch", "onnxruntime"),
                                        float_below=(16,), int8=False, quantizers=("onnxruntime",))
    assert names(runnable) == ["torch/checkpoint", "onnxruntime/onnx-fp32"]
    assert [(item.candidate.name, item.reason.split(":")[0]) for item in skipped] == [
        ("onnxruntime/onnx-int8-cpu-fb16", "int8 needs calibration faces")]


def test_nncf_accuracy_is_a_candidate_when_asked_with_the_runs_max_drop():
    pytest.importorskip("nncf", reason="NNCF is an optional extra")
    runnable, _ = plan_candidates(precisions=("int8",), backends=("openvino",), quantizers=("nncf", "nncf-accuracy"))
    assert names(runnable) == ["openvino/onnx-int8-nncf", "openvino/onnx-int8-nncf-accuracy"]
    request = runnable[1].export.request(calib_data=None, calib_size=64, max_batch=32, max_drop=0.25)
    assert (request.quantizer, request.max_drop, request.target) == ("nncf-accuracy", 0.25, "cpu")
    by_default, _ = plan_candidates(precisions=("int8",), backends=("openvino",))
    assert "openvino/onnx-int8-nncf-accuracy" not in names(by_default)  # validation passes cost time: asked for


def test_an_unknown_backend_is_one_line():
    with pytest.raises(FecError, match=r"^--backend: unknown bogus; choose from torch, "):
        plan_candidates(backends=("bogus",))


def test_export_spec_names_and_requests():
    spec = ExportSpec("onnx", "int8", 16)
    request = spec.request(calib_data=None, calib_size=64, max_batch=32)
    assert spec.name == "onnx-int8-cpu-fb16"
    assert (request.precision, request.target, request.float_below, request.max_batch, request.calib_size) == (
        "int8", "cpu", 16, 32, 64)
    assert ExportSpec("trt", "fp16").name == "trt-fp16"


@pytest.mark.parametrize("change, message", [
    ({"passes": 0}, "--passes: give 1 to 100"),
    ({"passes": 101}, "--passes: give 1 to 100"),
    ({"batches": ()}, "--batch: give sizes in [1, 4096]"),
    ({"batches": (1, 5000)}, "--batch: give sizes in [1, 4096]"),
    ({"calib_size": 0}, "--calib-size: give 1 or more faces"),
    ({"modes": ("end-to-end",)}, "--rank-by compute needs it measured: use --mode compute or both"),
])
def test_a_library_caller_gets_the_flags_checks_before_anything_runs(tmp_path, change, message):
    """deploy() checks its options itself: a script calling it without the CLI gets the same one-line refusal,
    before the checkpoint is even looked at."""
    from fec.deploy import DeployOptions, deploy
    from fec.errors import DeployError

    options = DeployOptions(data=tmp_path / "test.csv", out=tmp_path / "out", **change)
    with pytest.raises(DeployError, match=f"^{re.escape(message)}$"):
        deploy(tmp_path / "missing.pt", options)
    assert not (tmp_path / "out").exists()
