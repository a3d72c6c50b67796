"""The `onnx` export format: one `model.onnx` in fp32, fp16 or int8 (for a CPU or TensorRT target)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx

from fec.artifacts import FLOAT32_NCHW, UINT8_NHWC
from fec.data.dataset import FaceCrops
from fec.export.calibration import VALIDATION_TRIPLETS, load_calibration_faces, load_validation_triplets, model_inputs
from fec.export.errors import ExportError
from fec.export.manifest import ArtifactFile
from fec.export.onnx_export import INPUT_NAME, OnnxInfo, export_onnx, io_shapes, save_onnx
from fec.export.precision import Validation, convert_fp16, quantize_int8
from fec.export.registry import ExportFormat, ExportRequest, FormatOutcome, register_format
from fec.export.source import ExportSource
from fec.vocabulary import Precision

ONNX_FILE = "model.onnx"


@register_format("onnx")
class OnnxFormat(ExportFormat):
    default_target = "cpu"

    def resolve(self, request: ExportRequest) -> ExportRequest:
        target = (request.target or self.default_target) if request.precision == Precision.INT8 else None
        return replace(request, target=target)

    def export(self, source: ExportSource, request: ExportRequest, folder: Path,
               destination: Path | None = None) -> FormatOutcome:
        path = folder / ONNX_FILE
        details = write_onnx(source, request, path)
        proto = onnx.load(str(path))
        details["io"] = io_shapes(proto)
        return FormatOutcome([ArtifactFile.describe(folder, ONNX_FILE, "onnx")], details)


def write_onnx(source: ExportSource, request: ExportRequest, path: Path) -> dict:
    """Write the requested ONNX variant of `source` to `path`; return facts for the manifest."""
    if source.onnx is not None:
        check_derivable(source, request)
    already_int8 = source.onnx is not None and source.onnx.precision == Precision.INT8
    calibration = calibration_inputs(source, request) if request.precision == Precision.INT8 and not already_int8 else None
    if calibration is not None and request.quantizer == "nncf-accuracy":
        calibration = Calibration(calibration.inputs, validation_triplets(source, request))
    if source.onnx is not None:
        return _from_onnx(source, request, path, calibration)
    info = OnnxInfo(source.model_config, source.preprocessing, input_format=input_format(request),
                    opset=request.opset, exporter=request.exporter, provenance=source.provenance)
    if request.precision == Precision.FP32:
        return describe(export_onnx(source.model, info, path))
    with tempfile.TemporaryDirectory(prefix=".fec-fp32-", dir=path.parent) as scratch:
        fp32_path = Path(scratch) / "fp32.onnx"
        info = export_onnx(source.model, info, fp32_path)
        return derive(fp32_path, info, request, path, calibration)


def check_derivable(source: ExportSource, request: ExportRequest) -> None:
    """An ONNX source is used as is, or is fp32 and converted; preprocessing cannot be baked in afterwards."""
    info = source.onnx
    if request.bake_preprocessing and info.input_format != UINT8_NHWC:
        raise ExportError(f"{source.path}: preprocessing can only be baked in when exporting from the checkpoint")
    same = info.precision == request.precision and info.int8_target == request.target
    if not same and info.precision != Precision.FP32:
        raise ExportError(f"{source.path}: is an {info.precision} export; derive {request.precision} from an fp32 "
                          f"ONNX export or from the checkpoint")


def _from_onnx(source: ExportSource, request: ExportRequest, path: Path, calibration: Calibration | None) -> dict:
    info = source.onnx
    if info.precision == request.precision and info.int8_target == request.target:
        shutil.copyfile(source.path, path)
        return describe(info)
    return derive(source.path, info, request, path, calibration)


def derive(fp32_path: Path, info: OnnxInfo, request: ExportRequest, path: Path, calibration: Calibration | None) -> dict:
    """FP16 or INT8 from an fp32 fec ONNX file."""
    if request.precision == Precision.FP16:
        info = replace(info, precision=Precision.FP16, int8_target=None)
        save_onnx(convert_fp16(onnx.load(str(fp32_path))), info, path)
        return describe(info) | {Precision.FP16: {"kept_in_fp32": "graph input/output casts and the L2 normalisation"}}
    with tempfile.TemporaryDirectory(prefix=".fec-int8-", dir=path.parent) as scratch:
        quantized = Path(scratch) / "int8.onnx"
        facts = quantize_int8(fp32_path, quantized, calibration.inputs, INPUT_NAME, request.target, request.quantizer,
                              request.float_below, calibration.validation)
        info = replace(info, precision=Precision.INT8, int8_target=request.target)
        save_onnx(onnx.load(str(quantized)), info, path)
    return describe(info) | {Precision.INT8: facts}


@dataclass(frozen=True)
class Calibration:
    """What int8 is calibrated on (faces as the graph takes them) and, for nncf-accuracy, validated on."""

    inputs: np.ndarray
    validation: Validation | None = None


def calibration_inputs(source: ExportSource, request: ExportRequest) -> Calibration:
    """Calibration faces, loaded first so a bad or small set fails before any slow work."""
    if request.calib_data is None:
        raise ExportError("INT8 needs real face crops to calibrate on: pass --calib-data TRAIN.csv (an FEC-format triplet CSV)")
    crops = recorded_crops(source, request)
    faces = load_calibration_faces(request.calib_data, source.preprocessing.input_size, request.calib_size,
                                   request.store, crops.size, crops.margin)
    return Calibration(model_inputs(faces, source.preprocessing, graph_input_format(source, request)))


def validation_triplets(source: ExportSource, request: ExportRequest) -> Validation:
    """nncf-accuracy's triplets, from the calibration CSV, as the graph takes them, with the --max-drop budget."""
    crops = recorded_crops(source, request)
    loaded = load_validation_triplets(request.calib_data, source.preprocessing.input_size, VALIDATION_TRIPLETS,
                                      request.store, crops.size, crops.margin)
    flat = loaded.faces.reshape(-1, *loaded.faces.shape[2:])
    inputs = model_inputs(flat, source.preprocessing, graph_input_format(source, request))
    return Validation(inputs.reshape(len(loaded.faces), 3, *inputs.shape[1:]), loaded.odd_index, request.max_drop)


def recorded_crops(source: ExportSource, request: ExportRequest) -> FaceCrops:
    """How the model's training cropped faces (--face-size overrides the size): calibration crops them alike."""
    return FaceCrops.recorded(source.provenance, request.face_size, f"{source.path}: the recorded crops")


def graph_input_format(source: ExportSource, request: ExportRequest) -> str:
    return source.onnx.input_format if source.onnx is not None else input_format(request)


def input_format(request: ExportRequest) -> str:
    return UINT8_NHWC if request.bake_preprocessing else FLOAT32_NCHW


def describe(info: OnnxInfo) -> dict:
    return {"precision": info.precision, "int8_target": info.int8_target, "input_format": info.input_format,
            "opset": info.opset, "exporter": info.exporter}
