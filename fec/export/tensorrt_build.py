"""ONNX -> TensorRT engine through the Python API of TensorRT 10.x and 11.x.

Both generations get a strongly typed network, so the precision is the ONNX graph's (fp32, fp16 or
int8 Q/DQ) and no precision builder flag is used: TensorRT 11 removed them (BuilderFlag.FP16/INT8,
the INT8 calibrators, EXPLICIT_BATCH) and makes every network strongly typed, which is why the
STRONGLY_TYPED creation flag is only passed to 10.x. TF32 is switched off so an fp32 engine stays
within fp32 tolerances. The build uses one optimization profile from the batch flags, a workspace
limit, the builder optimization level, optional hardware and version compatibility, and a timing
cache file reused across builds (per GPU and TensorRT version).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from fec.artifacts import FLOAT32_NCHW, TENSORRT_INSTALL_HINT, UINT8_NHWC, EngineSidecar, sidecar_path, version_tuple
from fec.errors import HardwareError
from fec.export.errors import ExportError, MissingToolError
from fec.export.manifest import sha256_file
from fec.export.registry import EngineOptions
from fec.hardware import GpuInfo, current_gpu
from fec.io import atomic_path

HARDWARE_LEVELS = {"ampere+": "AMPERE_PLUS", "same-cc": "SAME_COMPUTE_CAPABILITY"}


@dataclass(frozen=True)
class TrtApi:
    """The API generation of the installed TensorRT."""

    version: str
    major: int

    @classmethod
    def detect(cls, trt) -> TrtApi:
        version = str(getattr(trt, "__version__", "0"))
        major = version_tuple(version)[0] if version_tuple(version) else 0
        if major < 10:
            raise MissingToolError(f"TensorRT {version} is too old: fec builds with the 10.x or 11.x API; "
                                   f"{TENSORRT_INSTALL_HINT}")
        return cls(version, major)

    @property
    def always_strongly_typed(self) -> bool:
        return self.major >= 11


@dataclass(frozen=True)
class BatchProfile:
    min: int
    opt: int
    max: int

    def shapes(self, input_shape: tuple[int, ...]) -> dict[str, list[int]]:
        """Input shapes for each batch size (dimension 0 is the batch, the rest are fixed)."""
        rest = [int(dim) for dim in input_shape[1:]]
        if any(dim < 1 for dim in rest):
            raise ExportError(f"the ONNX input has dynamic dimensions besides the batch: {list(input_shape)}")
        return {"min": [self.min, *rest], "opt": [self.opt, *rest], "max": [self.max, *rest]}


def import_builder():
    """The tensorrt module with its builder, or MissingToolError saying how to get it."""
    try:
        import tensorrt
    except ImportError:
        raise MissingToolError(f"TensorRT is not installed, so --format trt cannot run; {TENSORRT_INSTALL_HINT}. "
                               "--format onnx works without it") from None
    if not hasattr(tensorrt, "Builder") or not hasattr(tensorrt, "OnnxParser"):
        raise MissingToolError(f"this TensorRT install ({tensorrt.__version__}) is runtime-only (no Builder/OnnxParser); "
                               f"{TENSORRT_INSTALL_HINT}")
    return tensorrt


def build_gpu() -> GpuInfo:
    try:
        return current_gpu()
    except HardwareError as exc:
        raise MissingToolError(str(exc)) from None


def build_engine(onnx_path: Path, plan_path: Path, precision: str, batch: BatchProfile, options: EngineOptions,
                 rebuild: str, trt=None, gpu: GpuInfo | None = None) -> EngineSidecar:
    """Build `plan_path` (a raw plan) and its sidecar from `onnx_path`; return the sidecar."""
    trt = trt or import_builder()
    api = TrtApi.detect(trt)
    gpu = gpu or build_gpu()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt, api))
    parser = trt.OnnxParser(network, logger)  # the network must outlive the parser's use
    parse_onnx(parser, onnx_path, api)
    config = builder.create_builder_config()
    configure(trt, config, options)
    tensor = network.get_input(0)
    shapes = batch.shapes(tuple(tensor.shape))
    profile = builder.create_optimization_profile()
    profile.set_shape(tensor.name, shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(profile)
    cache_path = Path(options.timing_cache) if options.timing_cache else default_timing_cache(gpu, api)
    attach_timing_cache(config, cache_path)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(f"{onnx_path}: TensorRT {api.version} could not build an engine (its log above says why)")
    save_timing_cache(config, cache_path)
    with atomic_path(plan_path) as tmp:
        tmp.write_bytes(bytes(serialized))
    sidecar = EngineSidecar(
        tensorrt_version=api.version, gpu=gpu, precision=precision, input_name=tensor.name,
        output_name=network.get_output(0).name, input_format=_input_format(tensor, trt), profile=shapes,
        source_onnx=onnx_path.name, source_onnx_sha256=sha256_file(onnx_path), plan_sha256=sha256_file(plan_path),
        hardware_compatibility=options.hardware_compatibility, version_compatible=options.version_compatible,
        strongly_typed=True, builder_optimization_level=options.optimization_level,
        workspace_bytes=options.workspace_mb << 20, rebuild=rebuild, extra={"timing_cache": str(cache_path)})
    sidecar.write(sidecar_path(plan_path))
    return sidecar


def network_flags(trt, api: TrtApi) -> int:
    """STRONGLY_TYPED on 10.x; 0 on 11.x, where every network is strongly typed and the flag is deprecated."""
    if api.always_strongly_typed:
        return 0
    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def parse_onnx(parser, onnx_path: Path, api: TrtApi) -> None:
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(index)) for index in range(parser.num_errors)]
        raise ExportError(f"{onnx_path}: TensorRT {api.version} cannot parse it: {errors[0] if errors else 'no detail'}")


def configure(trt, config, options: EngineOptions) -> None:
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mb << 20)
    config.builder_optimization_level = options.optimization_level
    if not options.tf32 and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    if options.hardware_compatibility != "none":
        level = HARDWARE_LEVELS[options.hardware_compatibility]
        if not hasattr(trt.HardwareCompatibilityLevel, level):
            raise ExportError(f"TensorRT {trt.__version__} has no hardware compatibility level {level}")
        config.hardware_compatibility_level = getattr(trt.HardwareCompatibilityLevel, level)
    if options.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)


def default_timing_cache(gpu: GpuInfo, api: TrtApi) -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    slug = re.sub(r"[^a-z0-9]+", "-", gpu.name.lower()).strip("-")
    return root / "fec" / "tensorrt" / f"timing-{slug}-{gpu.sm}-trt{api.version}.cache"


def attach_timing_cache(config, path: Path) -> None:
    """Start from the saved timing cache when there is one (TensorRT rejects a mismatched one)."""
    saved = path.read_bytes() if path.is_file() else b""
    try:
        cache = config.create_timing_cache(saved)
    except (RuntimeError, TypeError, ValueError):
        cache = None
    if cache is None:
        cache = config.create_timing_cache(b"")  # unusable file: start afresh; it is overwritten after the build
    config.set_timing_cache(cache, False)


def save_timing_cache(config, path: Path) -> None:
    cache = config.get_timing_cache()
    if cache is None:
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(bytes(cache.serialize()))


def _input_format(tensor, trt) -> str:
    return UINT8_NHWC if tensor.dtype == trt.DataType.UINT8 else FLOAT32_NCHW
