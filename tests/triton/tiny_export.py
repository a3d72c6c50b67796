"""A hand-made fec export folder for tests that tamper with one: a three-node ONNX graph with fec metadata, its
manifest, and optionally a stand-in engine with its sidecar. No torch and no training: built in milliseconds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fec.export.manifest import EXPORT_MANIFEST_SCHEMA, MANIFEST_NAME, ArtifactFile
from fec.export.onnx_export import OnnxInfo, set_metadata
from fec.preprocessing import Preprocessing

SIZE, WIDTH = 32, 16
MODEL = {"name": "compact_cnn", "embedding_dim": WIDTH, "input_size": SIZE}


def tiny_onnx(path: Path, external_weights: str | None = None) -> None:
    """images [batch, 3, SIZE, SIZE] -> pooled [batch, 3] -> embeddings [batch, WIDTH]; weights in a separate
    file (ONNX external data) when `external_weights` names one."""
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["images"], ["pooled4"]),
         helper.make_node("Flatten", ["pooled4"], ["pooled"]),
         helper.make_node("MatMul", ["pooled", "weights"], ["embeddings"])],
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", WIDTH])],
        [numpy_helper.from_array(np.ones((3, WIDTH), np.float32), "weights")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    set_metadata(proto, OnnxInfo(model=MODEL, preprocessing=Preprocessing(SIZE)))
    if external_weights:
        onnx.save_model(proto, str(path), save_as_external_data=True, location=external_weights, size_threshold=0)
    else:
        onnx.save_model(proto, str(path))


def tiny_export(folder: Path, external_weights: str | None = None) -> Path:
    """An fp32 ONNX export folder as fec-export writes one (batch max 32, training face margin 0.1)."""
    folder.mkdir(parents=True)
    tiny_onnx(folder / "model.onnx", external_weights)
    manifest = {"format": EXPORT_MANIFEST_SCHEMA, "export_format": "onnx", "precision": "fp32", "model": MODEL,
                "preprocessing": Preprocessing(SIZE).to_dict(), "input_format": "float32-nchw",
                "batch": {"min": 1, "opt": 8, "max": 32},
                "source": {"kind": "checkpoint", "face_size": 64, "face_margin": 0.1},
                "files": [ArtifactFile.describe(folder, "model.onnx", "onnx").to_dict()], "verification": None}
    write_manifest_json(folder, manifest)
    return folder


def add_engine(folder: Path, **sidecar_fields) -> Path:
    """Stand-in plan bytes and a sidecar (`sidecar_fields` override its entries), both listed in the manifest."""
    (folder / "model.plan").write_bytes(b"not a real engine")
    sidecar = {"format": "fec-trt-engine/1", "tensorrt_version": "10.13.0", "precision": "fp32",
               "gpu": {"name": "test GPU", "compute_capability": "8.9"},
               "input_name": "images", "output_name": "embeddings", "input_format": "float32-nchw",
               "profile": {"min": [1, 3, SIZE, SIZE], "opt": [8, 3, SIZE, SIZE], "max": [16, 3, SIZE, SIZE]},
               "source_onnx": "model.onnx", "source_onnx_sha256": "0", "plan_sha256": "0", **sidecar_fields}
    (folder / "model.plan.json").write_text(json.dumps(sidecar))
    manifest = read_manifest_json(folder)
    manifest["files"] += [ArtifactFile.describe(folder, "model.plan", "engine").to_dict(),
                          ArtifactFile.describe(folder, "model.plan.json", "engine-sidecar").to_dict()]
    write_manifest_json(folder, manifest)
    return folder


def read_manifest_json(folder: Path) -> dict:
    return json.loads((folder / MANIFEST_NAME).read_text())


def write_manifest_json(folder: Path, manifest: dict) -> None:
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1))
