"""What an export starts from: a training checkpoint, or an ONNX file fec exported before.

Starting from an fp32 ONNX export derives FP16/INT8 variants or TensorRT engines without tracing
the model again; its metadata carries the preprocessing and the original checkpoint's provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from fec.export.manifest import sha256_file
from fec.export.onnx_export import OnnxInfo, read_onnx_info
from fec.preprocessing import Preprocessing


@dataclass
class ExportSource:
    path: Path
    model_config: dict
    preprocessing: Preprocessing
    provenance: dict
    model: nn.Module | None = None   # set when the source is a checkpoint
    onnx: OnnxInfo | None = None     # set when the source is an fec ONNX file

    @property
    def model_name(self) -> str:
        return self.model_config["name"]


def load_source(path: str | Path) -> ExportSource:
    """Read a checkpoint (.pt) or an fec ONNX file; CheckpointError/ExportError say why not."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        info = read_onnx_info(path)
        return ExportSource(path, info.model, info.preprocessing, info.provenance, onnx=info)
    from fec.models.checkpoint import model_from_checkpoint

    model, prep, payload = model_from_checkpoint(path)
    return ExportSource(path, dict(payload["model"]), prep, checkpoint_provenance(path, payload), model=model)


def checkpoint_provenance(path: Path, payload: dict) -> dict:
    """Where the weights came from, and the face-crop settings the model was trained with."""
    training = payload.get("config") or {}
    return {
        "checkpoint": str(path.resolve()),
        "checkpoint_sha256": sha256_file(path),
        "step": payload.get("step"),
        "fec_version": payload.get("fec_version"),
        "face_size": training.get("face_size"),
        "face_margin": training.get("face_margin"),
        "box_convention": payload.get("box_convention"),  # fec.detect.convention: how detected faces are cropped
    }
