"""TensorRT engine builds, checked against a recording FAKE of the tensorrt module (fake_tensorrt.py).

These tests check fec's orchestration of the documented TensorRT 10.x and 11.x Python APIs (which
calls, which flags, which shapes, which files); they do not build real engines. Real builds are in
tests marked `tensorrt` (skipped without TensorRT and a CUDA GPU) and in benchmarks/gpu_check.sh.
"""

from __future__ import annotations

import json
import sys

import pytest
from fake_tensorrt import PLAN_MAGIC, make_fake_tensorrt

from fec.export import EngineOptions, ExportError, ExportRequest, MissingToolError, export_model
from fec.export.manifest import sha256_file
from fec.export.tensorrt_build import BatchProfile, TrtApi, build_engine, import_builder
from fec.export.tensorrt_format import TensorRTFormat
from fec.hardware import GpuInfo

GPU = GpuInfo("NVIDIA L4", "8.9")
TRT10, TRT11 = "10.8.0.43", "11.1.0.7"


@pytest.fixture
def fake_trt_format(monkeypatch):
    """Let the `trt` format use a fake module and GPU; returns a function choosing the version."""

    def use(version: str):
        trt = make_fake_tensorrt(version)
        monkeypatch.setattr(TensorRTFormat, "trt", trt)
        monkeypatch.setattr(TensorRTFormat, "gpu", GPU)
        return trt

    return use


def build(trt, onnx_exports, tmp_path, **options):
    engine = EngineOptions(timing_cache=tmp_path / "timing.cache", **options)
    return build_engine(onnx_exports["fp32"] / "model.onnx", tmp_path / "model.plan", "fp32", BatchProfile(1, 8, 32),
                        engine, "fec-export ...", trt=trt, gpu=GPU)


def names(calls, name):
    return [call[1:] for call in calls if call[0] == name]


def test_trt10_build_uses_a_strongly_typed_network_profile_workspace_and_no_tf32(onnx_exports, tmp_path):
    trt = make_fake_tensorrt(TRT10)
    sidecar = build(trt, onnx_exports, tmp_path, workspace_mb=512, optimization_level=4)

    assert names(trt.calls, "create_network") == [(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED),)]
    assert names(trt.calls, "set_memory_pool_limit") == [("WORKSPACE", 512 << 20)]
    assert names(trt.calls, "builder_optimization_level") == [(4,)]
    assert names(trt.calls, "clear_flag") == [("TF32",)]
    assert names(trt.calls, "set_flag") == []  # precision comes from the graph, never from FP16/INT8 flags
    assert names(trt.calls, "set_shape") == [("images", (1, 3, 224, 224), (8, 3, 224, 224), (32, 3, 224, 224))]
    assert (tmp_path / "model.plan").read_bytes().startswith(PLAN_MAGIC)  # raw plan, no header of ours
    assert sidecar.profile == {"min": [1, 3, 224, 224], "opt": [8, 3, 224, 224], "max": [32, 3, 224, 224]}
    assert (sidecar.tensorrt_version, sidecar.gpu, sidecar.precision) == (TRT10, GPU, "fp32")


def test_trt11_build_passes_no_creation_flag_and_touches_no_removed_api(onnx_exports, tmp_path):
    trt = make_fake_tensorrt(TRT11)  # has no BuilderFlag.FP16/INT8/BF16 and no EXPLICIT_BATCH: touching them raises
    sidecar = build(trt, onnx_exports, tmp_path)

    assert not hasattr(trt.BuilderFlag, "FP16") and not hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH")
    assert names(trt.calls, "create_network") == [(0,)]
    assert sidecar.tensorrt_version == TRT11 and sidecar.strongly_typed


def test_hardware_and_version_compatibility_are_set_and_recorded(onnx_exports, tmp_path):
    trt = make_fake_tensorrt(TRT10)
    sidecar = build(trt, onnx_exports, tmp_path, hardware_compatibility="ampere+", version_compatible=True)

    assert names(trt.calls, "hardware_compatibility_level") == [("AMPERE_PLUS",)]
    assert names(trt.calls, "set_flag") == [("VERSION_COMPATIBLE",)]
    assert (sidecar.hardware_compatibility, sidecar.version_compatible) == ("ampere+", True)


def test_the_timing_cache_is_reused_by_the_next_build(onnx_exports, tmp_path):
    trt = make_fake_tensorrt(TRT10)
    build(trt, onnx_exports, tmp_path)
    saved = (tmp_path / "timing.cache").read_bytes()
    build(trt, onnx_exports, tmp_path)

    assert names(trt.calls, "create_timing_cache") == [(b"",), (saved,)]
    assert names(trt.calls, "set_timing_cache") == [(False,), (False,)]


def test_an_onnx_file_tensorrt_cannot_parse_is_one_line(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")

    with pytest.raises(ExportError, match=r"broken.onnx: TensorRT 10.8.0.43 cannot parse it: ModelImporter"):
        build_engine(broken, tmp_path / "model.plan", "fp32", BatchProfile(1, 1, 1), EngineOptions(timing_cache=tmp_path / "t"),
                     "", trt=make_fake_tensorrt(TRT10), gpu=GPU)


@pytest.mark.parametrize("version", [TRT10, TRT11])
def test_trt_format_writes_onnx_raw_plan_sidecar_and_manifest(version, fake_trt_format, onnx_exports, tmp_path):
    fake_trt_format(version)
    folder = tmp_path / "engine"
    request = ExportRequest(max_batch=32, opt_batch=8, engine=EngineOptions(timing_cache=tmp_path / "timing.cache"))
    result = export_model(onnx_exports["fp16"] / "model.onnx", "trt", request, out=folder)
    sidecar = json.loads((folder / "model.plan.json").read_text())

    assert sorted(path.name for path in folder.iterdir()) == ["manifest.json", "model.onnx", "model.plan", "model.plan.json"]
    assert [(entry["path"], entry["role"]) for entry in result.manifest["files"]] == [
        ("model.onnx", "onnx"), ("model.plan", "engine"), ("model.plan.json", "engine-sidecar")]
    assert (result.manifest["precision"], sidecar["precision"]) == ("fp16", "fp16")  # taken from the source ONNX
    assert sidecar["source_onnx_sha256"] == sha256_file(folder / "model.onnx") == sha256_file(onnx_exports["fp16"] / "model.onnx")
    assert sidecar["plan_sha256"] == sha256_file(folder / "model.plan")
    assert sidecar["rebuild"] == (f"fec-export {folder}/model.onnx --format trt --max-batch 32 --opt-batch 8 --out {folder}")
    assert (sidecar["tensorrt_version"], sidecar["gpu"]) == (version, {"name": "NVIDIA L4", "compute_capability": "8.9"})
    assert result.manifest["batch"] == {"min": 1, "opt": 8, "max": 32}


def test_int8_engines_refuse_the_cpu_quantization_target(fake_trt_format, onnx_exports, tmp_path):
    fake_trt_format(TRT10)

    with pytest.raises(ExportError, match="TensorRT needs symmetric int8 Q/DQ: use --target tensorrt"):
        export_model(onnx_exports["int8"] / "model.onnx", "trt", ExportRequest(), out=tmp_path / "x")


def test_missing_tensorrt_fails_in_one_line_before_any_work(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # as if not installed

    with pytest.raises(MissingToolError, match=r"^TensorRT is not installed, so --format trt cannot run; .*pip install"):
        export_model(tmp_path / "no-such-checkpoint.pt", "trt", out=tmp_path / "x")  # the checkpoint is never read
    assert not (tmp_path / "x").exists()


def test_tensorrt_older_than_10_is_refused_by_name():
    with pytest.raises(MissingToolError, match="TensorRT 8.6.1 is too old: fec builds with the 10.x or 11.x API"):
        TrtApi.detect(make_fake_tensorrt("8.6.1"))


def test_a_runtime_only_tensorrt_is_named(monkeypatch):
    trt = make_fake_tensorrt(TRT10)
    del trt.Builder  # like tensorrt-lean: it can run engines but not build them
    monkeypatch.setitem(sys.modules, "tensorrt", trt)

    with pytest.raises(MissingToolError, match=r"TensorRT install \(10.8.0.43\) is runtime-only \(no Builder/OnnxParser\)"):
        import_builder()


def test_no_gpu_fails_before_any_work(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", make_fake_tensorrt(TRT10))
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)

    with pytest.raises(MissingToolError, match=r"TensorRT needs a CUDA GPU, and none is visible here"):
        export_model(tmp_path / "no-such-checkpoint.pt", "trt", out=tmp_path / "x")
