"""What one stage writes and the next reads, defined once: input layouts, the TensorRT engine sidecar, and the
stamps (time, package versions) every manifest and report carries.

Exporters write these; runners, verification, benchmarks and Triton packaging read them. The module
sits at the bottom of the package so that every stage can import it without importing another stage.

Input layouts (the `input_format` key of manifests and ONNX metadata):
- `float32-nchw`: normalised float pixels, channels first; the host does the preprocessing.
- `uint8-nhwc`: raw RGB bytes; the graph or engine normalises them itself (baked preprocessing).
"""

from __future__ import annotations

import platform
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import fec
from fec.errors import ArtifactError
from fec.hardware import GpuInfo
from fec.io import read_json, write_json

FLOAT32_NCHW = "float32-nchw"
UINT8_NHWC = "uint8-nhwc"
INPUT_LAYOUTS = (FLOAT32_NCHW, UINT8_NHWC)
# The largest batch any export, served model or benchmark takes: 4096 faces at 299 px are 4 GiB of float
# input; beyond that a typo or an edited file, not a deployment.
MAX_BATCH = 4096


def input_pixels(shape, layout: str) -> int:
    """The side of the square input picture in a batch shape of this layout; 0 where the shape leaves it open."""
    side = shape[1] if layout == UINT8_NHWC else shape[2]
    return side if isinstance(side, int) else 0


SIDECAR_FORMAT = "fec-trt-engine/1"
TENSORRT_INSTALL_HINT = ("install NVIDIA's TensorRT Python wheel on a machine with a CUDA GPU "
                         "(pip install tensorrt, or the tensorrt-cu12/-cu13 wheel matching your CUDA)")


@dataclass(frozen=True)
class EngineSidecar:
    """What an engine was built from and for; written beside the plan as `<plan>.json`."""

    tensorrt_version: str
    gpu: GpuInfo
    precision: str
    input_name: str
    output_name: str
    input_format: str
    profile: dict                   # {"min": [...], "opt": [...], "max": [...]} for the input
    source_onnx: str
    source_onnx_sha256: str
    plan_sha256: str
    hardware_compatibility: str = "none"
    version_compatible: bool = False
    strongly_typed: bool = True
    builder_optimization_level: int = 3
    workspace_bytes: int = 0
    rebuild: str = ""
    format: str = SIDECAR_FORMAT
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict, source: Path) -> EngineSidecar:
        """The sidecar `payload` (untrusted JSON) describes; ArtifactError naming the field that is wrong."""
        if not isinstance(payload, dict) or payload.get("format") != SIDECAR_FORMAT:
            raise ArtifactError(f"{source}: not an fec engine sidecar (no '{SIDECAR_FORMAT}' tag)")
        problem = sidecar_problem(payload)
        if problem:
            raise ArtifactError(f"{source}: damaged engine sidecar: {problem}; rebuild it with fec-export --format trt")
        try:
            return cls(**{**payload, "gpu": GpuInfo(**payload["gpu"])})
        except (TypeError, KeyError) as exc:
            raise ArtifactError(f"{source}: damaged engine sidecar ({exc})") from None

    def write(self, path: Path) -> None:
        write_json(path, self.to_dict())

    @property
    def max_batch(self) -> int:
        return int(self.profile["max"][0])

    @property
    def input_size(self) -> int:
        return input_pixels(self.profile["max"], self.input_format)


SIDECAR_STRINGS = ("tensorrt_version", "precision", "input_name", "output_name", "source_onnx")
COMPUTE_CAPABILITY = re.compile(r"\d{1,2}\.\d{1,2}")  # "8.9"; Triton repositories name plan files after it


def sidecar_problem(payload: dict) -> str | None:
    """What is wrong with the fields readers use (names, layout, GPU, profile), or None."""
    text = next((key for key in SIDECAR_STRINGS if not isinstance(payload.get(key), str)), None)
    if text:
        return f"'{text}' is not a string"
    if payload.get("input_format") not in INPUT_LAYOUTS:
        return f"'input_format' {payload.get('input_format')!r} is not one of {', '.join(INPUT_LAYOUTS)}"
    gpu = payload.get("gpu") if isinstance(payload.get("gpu"), dict) else {}
    capability = gpu.get("compute_capability")
    if not isinstance(gpu.get("name"), str) or not isinstance(capability, str) or not COMPUTE_CAPABILITY.fullmatch(capability):
        return "'gpu' needs a name and a compute_capability such as \"8.9\""
    profile = payload.get("profile")
    if not isinstance(profile, dict) or not all(_is_shape(profile.get(key)) for key in ("min", "opt", "max")):
        return "'profile' needs min, opt and max shapes of four whole numbers >= 1"
    return None


def _is_shape(shape) -> bool:
    return isinstance(shape, (list, tuple)) and len(shape) == 4 and all(
        isinstance(dim, int) and not isinstance(dim, bool) and dim >= 1 for dim in shape)


def sidecar_path(plan: Path) -> Path:
    return plan.with_name(plan.name + ".json")


def read_sidecar(plan: Path) -> EngineSidecar:
    path = sidecar_path(plan)
    if not path.is_file():
        raise ArtifactError(f"{plan}: no sidecar {path.name} beside the engine; rebuild it with fec-export --format trt")
    return EngineSidecar.from_dict(read_json(path, ArtifactError, "engine sidecar"), path)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


# --------------------------------------------------------------------------- stamps every report and manifest carries

# What an export, a verification, a benchmark or a deployment depends on: every manifest and report names these.
VERSIONED_PACKAGES = ("torch", "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "openvino", "nncf", "tensorrt",
                      "nvidia-modelopt")


def package_versions(names: tuple[str, ...] = VERSIONED_PACKAGES) -> dict[str, str | None]:
    """Installed versions of fec, Python and `names` (by default every package a result depends on; None when
    absent), read from package metadata: importing the packages would be slow."""
    versions: dict[str, str | None] = {"fec": fec.__version__, "python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:  # TensorRT wheels come under several distribution names; the module knows its version
        import tensorrt

        versions["tensorrt"] = tensorrt.__version__
    except ImportError:
        pass
    return versions


def utc_now() -> str:
    """The time a report or manifest is written, in UTC to the second (ISO 8601)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
