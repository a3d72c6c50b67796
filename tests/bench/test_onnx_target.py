"""An export folder runs on onnxruntime through fec-bench; an export without ONNX is refused with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fec.bench.plan import default_backends
from fec.bench.targets import resolve_target
from fec.cli.bench import main
from fec.hardware import cpu_info, native_bf16
from fec.runtimes.backends import get_backend

pytest.importorskip("onnxruntime")


def write_tiny_export(folder: Path, roles=("onnx",)) -> Path:
    """A hand-made export folder: (N, 3, 16, 16) float -> global average pool -> (N, 3), plus its manifest."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["images"], ["pooled"]), helper.make_node("Flatten", ["pooled"], ["embeddings"])],
        "tiny", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", 3])])
    from fec.export.manifest import sha256_file
    from fec.export.onnx_export import OnnxInfo, save_onnx
    from fec.preprocessing import Preprocessing

    folder.mkdir(parents=True)
    prep = Preprocessing(16, (0.5,) * 3, (0.25,) * 3)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    save_onnx(model, OnnxInfo({"name": "tiny"}, prep), folder / "model.onnx")  # fec's metadata: precision, size
    manifest = {"format": "fec-export/1", "precision": "fp32", "preprocessing": prep.to_dict(), "source": {"face_size": 64},
                "files": [{"path": "model.onnx", "role": role, "sha256": sha256_file(folder / "model.onnx"), "bytes": 0}
                          for role in roles]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_export_folder_runs_on_every_cpu_backend_here_with_random_inputs(tmp_path):
    folder = write_tiny_export(tmp_path / "export")
    result = CliRunner().invoke(main, [str(folder), "--inputs", "random", "--batch", "1,4", "--warmup", "1", "--iters", "5",
                                       "--threads", "1", "--json", str(tmp_path / "bench.json"), "--quiet"])

    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "bench.json").read_text())
    rows = report["rows"]
    assert report["host"]["hardware"]["cpu"]["isa"] == list(cpu_info().isa)  # the figures name their CPU
    expected = [("onnxruntime", 1, "random", "CPUExecutionProvider"), ("onnxruntime", 4, "random", "CPUExecutionProvider")]
    if get_backend("openvino").unavailable() is None:  # OpenVINO installed: it fits an ONNX export too
        expected += [("openvino", 1, "random", "CPU"), ("openvino", 4, "random", "CPU")]
        if native_bf16():  # and in bf16 where the CPU computes it natively (AVX-512 BF16, AMX)
            expected += [("openvino-bf16", 1, "random", "CPU"), ("openvino-bf16", 4, "random", "CPU")]
        # compiled per batch size, and compiled as OpenVINO's users do (fec-deploy's peer row)
        expected += [(name, batch, "random", "CPU") for name in ("openvino-static", "openvino-defaults") for batch in (1, 4)]
    assert [(row["backend"], row["batch"], row["inputs"], row["device"]) for row in rows] == expected
    assert all(0 < row["min_ms"] <= row["p50_ms"] <= row["max_ms"] and row["throughput"] > 0 for row in rows)


def test_export_without_onnx_or_engine_is_refused(tmp_path):
    folder = write_tiny_export(tmp_path / "calibration-only", roles=("calibration",))
    result = CliRunner().invoke(main, [str(folder), "--inputs", "random"])
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: {folder}: no ONNX file or TensorRT engine in this export "
                                     "(roles: calibration)")


def test_an_export_gets_openvino_bf16_rows_only_where_the_cpu_has_native_bf16(cpu_kind, tmp_path):
    pytest.importorskip("openvino")
    target = resolve_target(str(write_tiny_export(tmp_path / "export")))
    expected = (["onnxruntime", "openvino"] + (["openvino-bf16"] if cpu_kind.native_bf16 else [])
                + ["openvino-static", "openvino-defaults"])
    assert [backend.name for backend in default_backends(target)] == expected
    reason = get_backend("openvino-bf16").unavailable()
    assert reason == (None if cpu_kind.native_bf16 else "this CPU has no native bf16 (AVX-512 BF16 or AMX)")
