"""The `trt` export format: the ONNX variant of the requested precision, then a TensorRT engine from it.

The folder holds `model.onnx` (what the engine was built from, also runnable on ONNX Runtime),
`model.plan` (raw, loadable by trtexec and Triton) and `model.plan.json` (the sidecar).
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path

from fec.artifacts import sidecar_path
from fec.export.errors import ExportError
from fec.export.manifest import ArtifactFile
from fec.export.onnx_format import ONNX_FILE, OnnxFormat
from fec.export.registry import EngineOptions, ExportFormat, ExportRequest, FormatOutcome, register_format
from fec.export.source import ExportSource
from fec.export.tensorrt_build import BatchProfile, build_engine, build_gpu, import_builder
from fec.vocabulary import Precision

PLAN_FILE = "model.plan"


@register_format("trt")
class TensorRTFormat(ExportFormat):
    default_target = "tensorrt"
    trt = None   # tests put a recording fake of the tensorrt module and a GpuInfo here
    gpu = None

    def check_available(self) -> None:
        if self.trt is None:
            import_builder()
        if self.gpu is None:
            build_gpu()

    def resolve(self, request: ExportRequest) -> ExportRequest:
        if request.precision == Precision.INT8 and request.target == "cpu":
            raise ExportError("TensorRT needs symmetric int8 Q/DQ: use --target tensorrt (the default for --format trt)")
        return replace(request, target=self.default_target if request.precision == Precision.INT8 else None)

    def export(self, source: ExportSource, request: ExportRequest, folder: Path,
               destination: Path | None = None) -> FormatOutcome:
        onnx_outcome = OnnxFormat().export(source, request, folder)
        profile = BatchProfile(1, request.opt_batch, request.max_batch)
        rebuild = rebuild_command(destination or folder, request)
        sidecar = build_engine(folder / ONNX_FILE, folder / PLAN_FILE, request.precision, profile, request.engine,
                               rebuild, trt=self.trt, gpu=self.gpu)
        files = onnx_outcome.files + [ArtifactFile.describe(folder, PLAN_FILE, "engine"),
                                      ArtifactFile.describe(folder, sidecar_path(Path(PLAN_FILE)).name, "engine-sidecar")]
        return FormatOutcome(files, onnx_outcome.details | {"tensorrt": sidecar.to_dict()})


def rebuild_command(folder: Path, request: ExportRequest) -> str:
    """The fec-export call that rebuilds the engine from the ONNX file kept beside it."""
    engine, defaults = request.engine, EngineOptions()
    words = ["fec-export", str(folder / ONNX_FILE), "--format", "trt", "--max-batch", str(request.max_batch),
             "--opt-batch", str(request.opt_batch), "--out", str(folder)]
    if engine.workspace_mb != defaults.workspace_mb:
        words += ["--workspace-mb", str(engine.workspace_mb)]
    if engine.optimization_level != defaults.optimization_level:
        words += ["--opt-level", str(engine.optimization_level)]
    if engine.hardware_compatibility != "none":
        words += ["--hardware-compat", engine.hardware_compatibility]
    if engine.version_compatible:
        words.append("--version-compat")
    return shlex.join(words)
