"""ONNX Runtime runner: an ONNX file on the CPU, CUDA or TensorRT execution provider.

onnxruntime-gpu lists the CUDA and TensorRT providers even where they cannot load, and then
silently runs on the CPU; so the provider that really runs is read back from the session
(`get_providers()`) and a silent fallback is an error, never a result labelled with the wrong name.

The TensorRT provider builds an engine on the first run of a shape outside the engines it has: the
runner turns its engine and timing caches on (`cache_dir`, default ~/.cache/fec/onnxruntime-tensorrt/
<model hash>), takes `fp16=True` for trt_fp16_enable, and an optional profile (min/opt/max batch)
so one engine covers every batch. Callers that time it (fec-bench) run each shape once untimed first,
so engine building is never in a measured latency.

    runner = create_runner("onnxruntime", model="export/x/model.onnx", provider="cuda")
    runner = create_runner("onnxruntime", model=path, provider="tensorrt", fp16=True,
                           provider_options=tensorrt_profile("images", (3, 224, 224), 1, 16, 64))
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from fec.artifacts import FLOAT32_NCHW, UINT8_NHWC, input_pixels
from fec.runtimes.base import Runner, RunnerError, register_runner

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
INSTALL_HINT = "pip install onnxruntime (CPU) or onnxruntime-gpu (CUDA/TensorRT), never both"


@register_runner("onnxruntime")
class OnnxRuntimeRunner(Runner):
    name = "onnxruntime"

    def __init__(self, model: str | Path, provider: str = "cpu", threads: int | None = None,
                 provider_options: dict | None = None, fp16: bool = False, cache_dir: str | Path | None = None):
        if provider not in PROVIDERS:
            raise RunnerError(f"onnxruntime: provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
        if (fp16 or cache_dir) and provider != "tensorrt":
            raise RunnerError(f"onnxruntime: fp16 and cache_dir are options of the tensorrt provider, not {provider!r}")
        self.model_path, self.provider = Path(model), provider
        self.threads, self.provider_options = threads, dict(provider_options or {})
        self.fp16, self.cache_dir = fp16, cache_dir
        self.session = None
        self.input_format = FLOAT32_NCHW
        if provider != "cpu":
            self.cuda_device = int(self.provider_options.get("device_id", 0))

    def activate(self) -> None:
        ort = import_onnxruntime()
        if not self.model_path.is_file():
            raise RunnerError(f"onnxruntime: {self.model_path}: ONNX file not found")
        wanted = PROVIDERS[self.provider]
        available = ort.get_available_providers()
        if wanted not in available:
            raise RunnerError(f"onnxruntime {ort.__version__} has no {wanted} here (available: {', '.join(available)}); "
                              f"{INSTALL_HINT}")
        self.session = self._session(ort, wanted)
        self._read_io()

    def _session(self, ort, wanted: str):
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        options_of_provider = self.provider_options
        if self.provider == "tensorrt":
            options_of_provider = {**tensorrt_defaults(self.model_path, self.cache_dir, self.fp16), **options_of_provider}
        elif self.provider == "cuda":
            options_of_provider = {**CUDA_DEFAULTS, **options_of_provider}
        providers = [(wanted, options_of_provider)]
        if wanted != "CPUExecutionProvider":
            providers.append(("CPUExecutionProvider", {}))  # for the few nodes a GPU provider leaves to the CPU
        try:
            session = ort.InferenceSession(str(self.model_path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise RunnerError(f"onnxruntime: cannot load {self.model_path}: {str(exc).splitlines()[0][:200]}") from None
        running = session.get_providers()
        if not running or running[0] != wanted:
            raise RunnerError(f"onnxruntime: asked for {wanted} but the session runs on {', '.join(running) or 'nothing'} "
                              "(the provider failed to load: check CUDA/cuDNN/TensorRT libraries)")
        return session

    def _read_io(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise RunnerError(f"onnxruntime: {self.model_path} must have one input and one output, "
                              f"has {len(inputs)} and {len(outputs)}")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        shape = inputs[0].shape
        self.input_format = UINT8_NHWC if inputs[0].type == "tensor(uint8)" else FLOAT32_NCHW
        size = input_pixels(shape, self.input_format)  # 0 when the ONNX file leaves it dynamic
        self.input_size = size
        self.max_batch = shape[0] if isinstance(shape[0], int) else None

    def deactivate(self) -> None:
        self.session = None

    def describe(self) -> dict:
        running = self.session.get_providers() if self.session is not None else []
        return {"runner": self.name, "provider": running[0] if running else None, "providers": running,
                "model": str(self.model_path), "onnxruntime": import_onnxruntime().__version__}

    def inference_errors(self) -> tuple[type[BaseException], ...]:
        from onnxruntime.capi import onnxruntime_pybind11_state as state

        return (state.Fail, state.RuntimeException, state.EPFail, state.NotImplemented)

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: batch})[0]


# The CUDA provider computes fp32 convolutions and matrix products in TF32 by default (10 mantissa bits), which
# is not what an fp32 export is verified as; fec's TensorRT builds and the verification hold fp32 to fp32.
CUDA_DEFAULTS = {"use_tf32": "0"}


def tensorrt_defaults(model: Path, cache_dir: str | Path | None, fp16: bool) -> dict:
    """TensorRT provider options: engine and timing caches on (per model file), fp16 when asked."""
    if cache_dir is None:
        digest = hashlib.sha256(model.read_bytes()).hexdigest()[:16]
        cache_root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fec" / "onnxruntime-tensorrt"
        cache_dir = cache_root / digest
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    return {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache_dir),
            "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache_dir),
            "trt_fp16_enable": "True" if fp16 else "False"}


def tensorrt_profile(input_name: str, item_shape: tuple[int, ...], min_batch: int, opt_batch: int, max_batch: int) -> dict:
    """One optimization profile over a batch range: the engine is built once for every batch in it."""

    def shape(batch: int) -> str:
        return f"{input_name}:" + "x".join(str(dim) for dim in (batch, *item_shape))

    return {"trt_profile_min_shapes": shape(min_batch), "trt_profile_opt_shapes": shape(opt_batch),
            "trt_profile_max_shapes": shape(max_batch)}


def export_tensorrt_profile(manifest: dict) -> dict:
    """An export manifest's batch range as a TensorRT-provider profile (empty when the manifest lacks it)."""
    source, batch = (manifest.get("io") or {}).get("input"), manifest.get("batch")
    if not source or not batch or not all(isinstance(dim, int) for dim in source["shape"][1:]):
        return {}
    return tensorrt_profile(source["name"], tuple(source["shape"][1:]), batch["min"], batch["opt"], batch["max"])


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise RunnerError(f"onnxruntime is not installed; {INSTALL_HINT}") from None
    return onnxruntime
