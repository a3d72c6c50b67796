"""ONNX export: every registered model exports; the file, its metadata and its manifest say what they should."""

from __future__ import annotations

import json
from importlib import metadata

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from export_fixtures import manifest

from fec.artifacts import FLOAT32_NCHW, UINT8_NHWC
from fec.export import ExportError, ExportRequest, export_model, get_format, list_formats, register_format
from fec.export.manifest import sha256_file
from fec.export.onnx_export import OnnxInfo, export_onnx, read_onnx_info
from fec.export.registry import ExportFormat, FormatOutcome
from fec.models import create_model, list_models
from fec.preprocessing import Preprocessing, normalize_uint8

# the smallest convenient input each trunk accepts (Inception-ResNet-v1's unpadded stem needs 75 px);
# compact_cnn at 96 px, so its grid head pools a 6x6 map to 4x4 (overlapping windows), not a 4x4 map as is
SMALL_INPUT = {"inception_resnet_v1": 80, "compact_cnn": 96}


def run_onnx(path, batch: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_providers() == ["CPUExecutionProvider"]
    return session.run(None, {"images": batch})[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_exports_with_baked_preprocessing_dynamic_batch_and_l2_norm(name, tmp_path):
    """Each trunk through the default (dynamo) exporter, taking uint8 pictures and normalising inside."""
    torch.manual_seed(0)
    model = create_model(name).eval()
    prep = Preprocessing(SMALL_INPUT.get(name, 64), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    info = export_onnx(model, OnnxInfo(dict(model.config), prep, input_format=UINT8_NHWC), tmp_path / "model.onnx")

    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.onnx"]  # one self-contained file
    assert (info.opset, read_onnx_info(tmp_path / "model.onnx").input_format) == (20, UINT8_NHWC)
    for size in (1, 3):  # a dynamic batch axis, not the example batch of 2
        pictures = np.random.default_rng(size).integers(0, 256, (size, prep.input_size, prep.input_size, 3), dtype=np.uint8)
        embeddings = run_onnx(tmp_path / "model.onnx", pictures)
        with torch.no_grad():
            expected = model(torch.from_numpy(normalize_uint8(pictures, prep))).numpy()
        assert embeddings.shape == (size, 16)
        np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)  # L2 norm is in the graph
        np.testing.assert_allclose(embeddings, expected, atol=1e-4)


def test_checkpoint_export_is_checked_and_carries_metadata_and_manifest(trained, onnx_exports):
    folder = onnx_exports["fp32"]
    record = manifest(folder)
    proto = onnx.load(str(folder / "model.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    payload = torch.load(trained.checkpoint, map_location="cpu", weights_only=True)

    assert sorted(path.name for path in folder.iterdir()) == ["manifest.json", "model.onnx"]
    assert [entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx")] == [20]
    assert record["files"] == [{"path": "model.onnx", "role": "onnx", "sha256": sha256_file(folder / "model.onnx"),
                                "bytes": (folder / "model.onnx").stat().st_size}]
    assert record["io"] == {"input": {"name": "images", "dtype": "float32", "shape": ["batch", 3, 224, 224]},
                            "output": {"name": "embeddings", "dtype": "float32", "shape": ["batch", 16]}}
    assert Preprocessing.from_dict(record["preprocessing"]) == Preprocessing.from_dict(payload["preprocessing"])
    assert record["source"]["checkpoint_sha256"] == sha256_file(trained.checkpoint)
    assert record["source"]["step"] == payload["step"]
    assert record["versions"]["torch"] == metadata.version("torch")
    assert (record["versions"]["onnx"], record["versions"]["onnxruntime"]) == (onnx.__version__, ort.__version__)
    assert (record["precision"], record["details"]["opset"], record["details"]["exporter"]) == ("fp32", 20, "dynamo")
    info = read_onnx_info(folder / "model.onnx")
    assert (info.precision, info.input_format) == ("fp32", FLOAT32_NCHW)
    assert info.preprocessing == Preprocessing.from_dict(payload["preprocessing"])
    assert info.provenance["checkpoint_sha256"] == record["source"]["checkpoint_sha256"]


def test_formats_come_from_one_registry_and_a_new_one_is_a_class_plus_a_name(trained, tmp_path):
    @register_format("test-copy")
    class CopyFormat(ExportFormat):
        def export(self, source, request, folder, destination=None):
            (folder / "weights.bin").write_bytes(b"weights")
            from fec.export.manifest import ArtifactFile

            return FormatOutcome([ArtifactFile.describe(folder, "weights.bin", "weights")],
                                 {"input_format": FLOAT32_NCHW, "io": {}})

    result = export_model(trained.checkpoint, "test-copy", ExportRequest(), out=tmp_path / "copy")

    assert {"onnx", "trt", "test-copy"} <= set(list_formats())
    assert [entry["path"] for entry in result.manifest["files"]] == ["weights.bin"]
    with pytest.raises(ExportError, match="unknown export format 'tflite'; available: onnx, test-copy, trt"):
        get_format("tflite")


def test_export_replaces_an_earlier_export_but_never_another_folder(onnx_exports, tmp_path):
    source = onnx_exports["fp32"] / "model.onnx"
    target = tmp_path / "fp16"
    export_model(source, "onnx", ExportRequest(precision="fp16"), out=target)
    first = json.loads((target / "manifest.json").read_text())["created"]
    export_model(source, "onnx", ExportRequest(precision="fp16"), out=target)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")

    assert json.loads((target / "manifest.json").read_text())["created"] >= first
    assert sorted(path.name for path in tmp_path.iterdir()) == ["fp16", "notes"]  # no scratch folders left
    with pytest.raises(ExportError, match="exists and is not an export folder"):
        export_model(source, "onnx", ExportRequest(precision="fp16"), out=tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def test_reduced_precision_is_derived_only_from_fp32(onnx_exports, tmp_path):
    with pytest.raises(ExportError, match="is an fp16 export; derive int8 from an fp32"):
        export_model(onnx_exports["fp16"] / "model.onnx", "onnx", ExportRequest(precision="int8", calib_data="x.csv"),
                     out=tmp_path / "x")
