"""The ways to run a model: one registry of named backends, each a runner with fixed options.

A backend runs one kind of target (a checkpoint, the ONNX file or the TensorRT engine of an export
folder, or a model on a Triton server) with one runner of fec.runtimes. Names are the runner's, with
the device and variant appended: `torch`, `torch-cuda-fp16`, `onnxruntime-tensorrt`, `tensorrt-graphs`.
fec-bench times them and fec-verify checks exports with them, so both speak of the same backends.
A new backend is one `register_backend` line.

    backend = get_backend("torch-cuda-graphs")
    backend.unavailable()   # None, or why it cannot run on this machine
    runner = backend.create_runner("run/best.pt")
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

from fec.runtimes.base import Runner, RunnerError, create_runner

# The kinds of target that are files of an export folder (the kind is the file's manifest role), preferred first.
EXPORT_KINDS = ("engine", "onnx")
# Target kind -> the runner option that names what it loads.
SOURCE_OPTION = {"checkpoint": "checkpoint", "onnx": "model", "engine": "engine", "server-http": "url", "server-grpc": "url"}
TARGET_KINDS = {"checkpoint": "checkpoints", "onnx": "ONNX exports", "engine": "TensorRT engines",
                "server-http": "Triton models over HTTP (http://...)", "server-grpc": "Triton models over gRPC (grpc://...)"}


@dataclass(frozen=True)
class Backend:
    name: str
    kind: str                         # the target kind it runs (TARGET_KINDS)
    runner: str                       # the fec.runtimes runner
    options: dict = field(default_factory=dict)
    precision: str | None = None      # what it computes in when it decides (autocast, TensorRT fp16); None: the target's
    needs: str = "cpu"                # a key of UNAVAILABLE: cpu, cuda, ort-cuda, ort-tensorrt, tensorrt, triton, openvino...
    summary: str = ""

    def unavailable(self) -> str | None:
        """Why this backend cannot run on this machine, or None when it can (cheap checks, no model loaded)."""
        return UNAVAILABLE[self.needs]()

    def create_runner(self, source: str, **options) -> Runner:
        """This backend's runner on `source` (the file or address its kind of target names), `options` on top."""
        if self.kind == "checkpoint":
            options.setdefault("precision", self.precision or "fp32")
        return create_runner(self.runner, **{SOURCE_OPTION[self.kind]: source}, **{**self.options, **options})

    def export_options(self, tensorrt_profile: dict) -> dict:
        """Runner options an export adds: its batch range as the TensorRT provider's profile (one engine for all)."""
        return {"provider_options": tensorrt_profile} if self.needs == "ort-tensorrt" and tensorrt_profile else {}

    def row_precision(self, target_precision: str) -> str:
        """The precision a row reports: the backend's (autocast, TRT fp16) on fp32 targets, else the target's."""
        return self.precision if self.precision and target_precision == "fp32" else target_precision


def _no_cuda() -> str | None:
    import torch

    return None if torch.cuda.is_available() else "no CUDA GPU here (torch.cuda.is_available() is False)"


def _ort_provider(provider: str):
    def check() -> str | None:
        if not importable("onnxruntime"):
            return "onnxruntime is not installed"
        import onnxruntime

        available = onnxruntime.get_available_providers()
        if provider not in available:
            return f"onnxruntime {onnxruntime.__version__} has no {provider} here (available: {', '.join(available)})"
        return _no_cuda()

    return check


def _module(name: str, install: str):
    def check() -> str | None:
        return None if importable(name) else f"{name} is not installed ({install})"

    return check


def importable(name: str) -> bool:
    """Whether `import name` would find the module, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a blocked or half-removed module
        return False


def _no_native_bf16() -> str | None:
    from fec.hardware import native_bf16

    return None if native_bf16() else "this CPU has no native bf16 (AVX-512 BF16 or AMX)"


def _tensorrt() -> str | None:
    return _module("tensorrt", "NVIDIA's TensorRT wheel")() or _no_cuda()


UNAVAILABLE = {
    "cpu": lambda: None,
    "cuda": _no_cuda,
    "ort-cuda": _ort_provider("CUDAExecutionProvider"),
    "ort-tensorrt": _ort_provider("TensorrtExecutionProvider"),
    "tensorrt": _tensorrt,
    "triton": _module("tritonclient", "pip install 'tritonclient[http,grpc]'"),
    "openvino": _module("openvino", "pip install openvino"),
    "openvino-bf16": lambda: _module("openvino", "pip install openvino")() or _no_native_bf16(),
}

_BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> Backend:
    if backend.name in _BACKENDS:
        raise ValueError(f"backend {backend.name!r} is registered twice")
    if backend.kind not in TARGET_KINDS or backend.needs not in UNAVAILABLE:
        raise ValueError(f"backend {backend.name!r}: unknown kind {backend.kind!r} or need {backend.needs!r}")
    _BACKENDS[backend.name] = backend
    return backend


def get_backend(name: str) -> Backend:
    if name not in _BACKENDS:
        raise RunnerError(f"unknown backend {name!r}; available: {', '.join(_BACKENDS)}")
    return _BACKENDS[name]


def export_backends() -> list[str]:
    """The backends that run an export's own file (ONNX or engine; the kind is the manifest role): what fec-verify
    checks with. One that computes in a precision of its own (bf16, TensorRT fp16) is judged in that precision."""
    return [name for kind in reversed(EXPORT_KINDS) for name in backend_names(kind)]


def backend_names(kind: str | None = None) -> list[str]:
    """Registered backends (of one target kind), in registration order."""
    return [name for name, backend in _BACKENDS.items() if kind is None or backend.kind == kind]


CUDA = {"device": "cuda"}
for _backend in (
    Backend("torch", "checkpoint", "torch", {"device": "cpu"}, summary="PyTorch eager on the CPU"),
    Backend("torch_compile", "checkpoint", "torch_compile", {"device": "cpu"}, summary="torch.compile on the CPU"),
    Backend("torch-cuda", "checkpoint", "torch", CUDA, needs="cuda", summary="PyTorch eager on CUDA, fp32"),
    Backend("torch-cuda-fp16", "checkpoint", "torch", CUDA, "fp16", "cuda", "fp16 autocast"),
    Backend("torch-cuda-bf16", "checkpoint", "torch", CUDA, "bf16", "cuda", "bf16 autocast"),
    Backend("torch-cuda-graphs", "checkpoint", "torch", {**CUDA, "cuda_graphs": True}, needs="cuda",
                 summary="one CUDA graph per batch shape, fp32"),
    Backend("torch-cuda-graphs-fp16", "checkpoint", "torch", {**CUDA, "cuda_graphs": True}, "fp16", "cuda",
                 "CUDA graphs with fp16 autocast"),
    Backend("torch_compile-cuda", "checkpoint", "torch_compile", CUDA, needs="cuda", summary="torch.compile on CUDA"),
    Backend("onnxruntime", "onnx", "onnxruntime", {"provider": "cpu"}, summary="ONNX Runtime, CPU provider"),
    Backend("onnxruntime-cuda", "onnx", "onnxruntime", {"provider": "cuda"}, needs="ort-cuda",
                 summary="ONNX Runtime, CUDA provider"),
    Backend("onnxruntime-tensorrt", "onnx", "onnxruntime", {"provider": "tensorrt"}, needs="ort-tensorrt",
                 summary="ONNX Runtime, TensorRT provider (engine cache; built before timing)"),
    Backend("onnxruntime-tensorrt-fp16", "onnx", "onnxruntime", {"provider": "tensorrt", "fp16": True}, "fp16",
                 "ort-tensorrt", "TensorRT provider with trt_fp16_enable"),
    Backend("openvino", "onnx", "openvino", needs="openvino",
            summary="OpenVINO on the CPU in f32 (an int8 Q/DQ export runs its int8 kernels)"),
    Backend("openvino-bf16", "onnx", "openvino", {"precision": "bf16"}, "bf16", "openvino-bf16",
            "OpenVINO with bf16 inference precision (CPUs with native bf16 only)"),
    Backend("tensorrt", "engine", "tensorrt", needs="tensorrt", summary="the export's TensorRT engine"),
    Backend("tensorrt-graphs", "engine", "tensorrt", {"cuda_graphs": True}, needs="tensorrt",
                 summary="the TensorRT engine replayed as CUDA graphs"),
    Backend("triton-http", "server-http", "triton", {"protocol": "http"}, needs="triton",
                 summary="a model on a running Triton server, over HTTP"),
    Backend("triton-grpc", "server-grpc", "triton", {"protocol": "grpc"}, needs="triton",
                 summary="a model on a running Triton server, over gRPC"),
):
    register_backend(_backend)
