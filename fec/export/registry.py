"""The export-format registry and the options every format receives.

A format is one module with a class registered under its name, plus one line in BUILTIN_FORMATS
(modules are imported only when their format is asked for, so `onnx` never imports TensorRT):

    @register_format("onnx")
    class OnnxFormat(ExportFormat):
        def export(self, source, request, folder) -> FormatOutcome: ...
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from fec.artifacts import MAX_BATCH
from fec.export.errors import ExportError
from fec.export.manifest import ArtifactFile
from fec.vocabulary import Precision

BUILTIN_FORMATS = {
    "onnx": "fec.export.onnx_format",
    "trt": "fec.export.tensorrt_format",
}
HARDWARE_COMPATIBILITY = ("none", "ampere+", "same-cc")
# What an export request may ask for (kept here, light, so that fec-export --help loads no torch or onnx).
EXPORT_PRECISIONS = (Precision.FP32, Precision.FP16, Precision.INT8)  # bf16 is a backend's, on an fp32 export
INT8_TARGETS = ("cpu", "tensorrt")
# int8 quantizers: ONNX Runtime's static Q/DQ (CPU), NVIDIA ModelOpt (TensorRT), NNCF with fec's float islands (the
# input standardisation and the L2 normalisation) and NNCF exactly as an OpenVINO user calls it (fec-deploy's peer).
NNCF_SETTINGS = ("nncf", "nncf-default", "nncf-accuracy")  # the last: NNCF's accuracy control on fec's metric
QUANTIZERS = ("onnxruntime", "modelopt", *NNCF_SETTINGS)
NARROW_CHANNELS = 48   # int8 for CPUs: convolutions narrower than this stay float unless asked otherwise
EXPORTERS = ("dynamo", "legacy")
OPSET = 20


@dataclass(frozen=True)
class EngineOptions:
    """TensorRT builder settings (ignored by other formats)."""

    workspace_mb: int = 2048
    optimization_level: int = 3          # 0 (fast build) .. 5 (slowest build, best tactics)
    hardware_compatibility: str = "none"
    version_compatible: bool = False
    timing_cache: Path | None = None     # default: a per-GPU file under the user's cache folder
    tf32: bool = False                   # off, so fp32 engines stay within fp32 tolerances

    def validate(self) -> None:
        if self.workspace_mb <= 0:
            raise ExportError(f"--workspace-mb must be positive, got {self.workspace_mb}")
        if not 0 <= self.optimization_level <= 5:
            raise ExportError(f"--opt-level must be between 0 and 5, got {self.optimization_level}")
        if self.hardware_compatibility not in HARDWARE_COMPATIBILITY:
            raise ExportError(f"--hardware-compat must be one of {', '.join(HARDWARE_COMPATIBILITY)}")


@dataclass(frozen=True)
class ExportRequest:
    """What the user asked for. `precision` None means fp32, or the precision of a source ONNX file;
    `target` None means the format's default (or the source ONNX file's)."""

    precision: str | None = None
    max_batch: int = 64
    opt_batch: int = 16
    target: str | None = None
    calib_data: Path | None = None
    calib_size: int = 256
    quantizer: str = "modelopt"
    bake_preprocessing: bool = False
    opset: int = OPSET
    exporter: str = "dynamo"
    store: Path | None = None
    face_size: int | None = None
    engine: EngineOptions = field(default_factory=EngineOptions)
    float_below: int = NARROW_CHANNELS       # INT8: convolutions narrower than this stay float
    max_drop: float = 0.5                    # INT8 with nncf-accuracy: triplet accuracy points it may lose

    def validate(self) -> None:
        checks = [
            (self.precision in EXPORT_PRECISIONS,
             f"--precision must be one of {', '.join(EXPORT_PRECISIONS)}, got {self.precision!r}"),
            (1 <= self.max_batch <= MAX_BATCH, f"--max-batch must be in [1, {MAX_BATCH}], got {self.max_batch}"),
            (1 <= self.opt_batch <= self.max_batch,
             f"--opt-batch must be between 1 and --max-batch ({self.max_batch}), got {self.opt_batch}"),
            (self.target is None or self.target in INT8_TARGETS, f"--target must be one of {', '.join(INT8_TARGETS)}"),
            (self.quantizer in QUANTIZERS, f"--quantizer must be one of {', '.join(QUANTIZERS)}"),
            (self.quantizer not in NNCF_SETTINGS or self.target != "tensorrt",
             f"--quantizer {self.quantizer} makes int8 for CPUs (OpenVINO, ONNX Runtime): use --target cpu"),
            (self.exporter in EXPORTERS, f"--exporter must be one of {', '.join(EXPORTERS)}"),
            (self.float_below >= 0, f"--float-below must be 0 or more channels, got {self.float_below}"),
            (0 <= self.max_drop <= 100, f"--max-drop must be between 0 and 100 accuracy points, got {self.max_drop}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ExportError(message)
        self.engine.validate()


@dataclass
class FormatOutcome:
    """The files a format wrote into the export folder and the facts it wants in the manifest."""

    files: list[ArtifactFile]
    details: dict


class ExportFormat:
    name = ""
    default_target = "cpu"

    def check_available(self) -> None:
        """Raise MissingToolError (one line, with the install command) before any work is done."""

    def resolve(self, request: ExportRequest) -> ExportRequest:
        """Fill format defaults and reject combinations this format cannot make."""
        return request

    def export(self, source, request: ExportRequest, folder: Path, destination: Path | None = None) -> FormatOutcome:
        """Write the artifacts into `folder` (a scratch folder renamed to `destination` afterwards)."""
        raise NotImplementedError


_FORMATS: dict[str, type[ExportFormat]] = {}


def register_format(name: str):
    def wrap(cls: type[ExportFormat]) -> type[ExportFormat]:
        if name in _FORMATS:
            raise ValueError(f"export format {name!r} is registered twice")
        cls.name = name
        _FORMATS[name] = cls
        return cls

    return wrap


def list_formats() -> list[str]:
    return sorted(set(_FORMATS) | set(BUILTIN_FORMATS))


def get_format(name: str) -> ExportFormat:
    if name not in _FORMATS and name in BUILTIN_FORMATS:
        importlib.import_module(BUILTIN_FORMATS[name])
    if name not in _FORMATS:
        raise ExportError(f"unknown export format {name!r}; available: {', '.join(list_formats())}")
    return _FORMATS[name]()
