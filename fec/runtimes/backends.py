"""The ways to run a model: one registry of named backends, one record each holding every fact about it.

A backend runs one kind of artifact (a checkpoint, the ONNX file or the TensorRT engine of an export
folder, or a model on a Triton server) with one runner of fec.runtimes, and its record says everything the
stages above need: what it computes in, why it cannot run on this machine, which export forms fec-deploy
makes for it, and how a Triton repository serves what it was verified as. fec-bench times backends,
fec-verify checks exports with them, fec-deploy turns them into candidates and packages the winner: all
read the same record. Names are the runner's, with the device and variant appended: `torch`,
`torch-cuda-fp16`, `onnxruntime-tensorrt`, `tensorrt-graphs`. A new backend is one `register_backend` call
(docs/extending.md).

    backend = get_backend("torch-cuda-graphs")
    backend.unavailable()   # None, or why it cannot run on this machine
    runner = backend.create_runner("run/best.pt")
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field

from fec.runtimes.base import Runner, RunnerError, create_runner
from fec.vocabulary import ArtifactKind, Precision

# The kinds of artifact that are files of an export folder (the kind is the file's manifest role), preferred first.
EXPORT_KINDS = (ArtifactKind.ENGINE, ArtifactKind.ONNX)
# Artifact kind -> the runner option that names what it loads.
SOURCE_OPTION = {ArtifactKind.CHECKPOINT: "checkpoint", ArtifactKind.ONNX: "model", ArtifactKind.ENGINE: "engine",
                 ArtifactKind.SERVER_HTTP: "url", ArtifactKind.SERVER_GRPC: "url"}
TARGET_KINDS = {ArtifactKind.CHECKPOINT: "checkpoints", ArtifactKind.ONNX: "ONNX exports",
                ArtifactKind.ENGINE: "TensorRT engines", ArtifactKind.SERVER_HTTP: "Triton models over HTTP (http://...)",
                ArtifactKind.SERVER_GRPC: "Triton models over gRPC (grpc://...)"}

# The export forms fec-deploy can make for a backend: the checkpoint itself, an ONNX file in a precision, an engine.
CHECKPOINT_FORM = "checkpoint"
ONNX_FORMS = (Precision.FP32, Precision.FP16, Precision.INT8)
TRT_FORMS = ("trt-fp32", "trt-fp16")
SERVE_WITH = ("native", "python")   # a Triton repository's embedding model on Triton's own backend, or on python


@dataclass(frozen=True)
class Serving:
    """How Triton serves what a backend was verified as: `native` is the repository's embedding kind on a backend
    of Triton's own (fec.runtimes.triton_client.EMBEDDING_KINDS), `python` the kind inside Triton's python
    backend (None: there is none), `options` the fec-triton RepositoryOptions that make the served model compute
    what was verified, `why` what a user should know (e.g. why the native kind is a python one)."""

    native: str
    python: str | None = None
    options: dict = field(default_factory=dict)
    why: str = ""

    def kind(self, serve_with: str) -> str | None:
        return self.native if serve_with == "native" else self.python


# Triton's OpenVINO backend cannot pin f32, so what OpenVINO verified in f32 is served by fec's python model.
OPENVINO_BACKEND_F32 = ("Triton's OpenVINO backend cannot pin f32 (its HINT_BF16 accepts only YES): on a CPU with "
                        "native bf16 (AVX-512 BF16, AMX) OpenVINO runs the model in bf16, which fec-verify did not "
                        "check; the ov-python kind pins f32")


@dataclass(frozen=True)
class Backend:
    name: str
    kind: ArtifactKind                # the artifact kind it runs
    runner: str                       # the fec.runtimes runner
    options: dict = field(default_factory=dict)
    precision: Precision | None = None  # what it computes in when it decides (autocast, TRT fp16); None: the artifact's
    needs: str | Callable[[], str | None] = "cpu"  # a key of UNAVAILABLE, or a check of its own: why it cannot run here
    summary: str = ""
    forms: tuple[str, ...] = ()       # the export forms fec-deploy makes for it (CHECKPOINT_FORM, ONNX_FORMS, TRT_FORMS)
    serving: Serving | None = None    # how Triton serves it; None: it is no Triton model (PyTorch, a server)

    def unavailable(self) -> str | None:
        """Why this backend cannot run on this machine, or None when it can (cheap checks, no model loaded)."""
        return self.needs() if callable(self.needs) else UNAVAILABLE[self.needs]()

    def create_runner(self, source: str, **options) -> Runner:
        """This backend's runner on `source` (the file or address its kind of artifact names), `options` on top."""
        if self.kind == ArtifactKind.CHECKPOINT:
            options.setdefault("precision", self.precision or Precision.FP32)
        return create_runner(self.runner, **{SOURCE_OPTION[self.kind]: source}, **{**self.options, **options})

    def export_options(self, tensorrt_profile: dict) -> dict:
        """Runner options an export adds: its batch range as the TensorRT provider's profile (one engine for all)."""
        return {"provider_options": tensorrt_profile} if self.needs == "ort-tensorrt" and tensorrt_profile else {}

    def row_precision(self, target_precision: str) -> str:
        """The precision a row reports: the backend's (autocast, TRT fp16) on fp32 artifacts, else the artifact's."""
        return self.precision if self.precision and target_precision == Precision.FP32 else target_precision

    def served_kind(self, serve_with: str) -> str | None:
        """The Triton embedding kind that serves this backend's verified model (`serve_with` native or python)."""
        return self.serving.kind(serve_with) if self.serving else None


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
    """Add a backend to the registry (a runtime's module calls this once per variant); its record is checked here."""
    if backend.name in _BACKENDS:
        raise ValueError(f"backend {backend.name!r} is registered twice")
    if backend.kind not in TARGET_KINDS or not (callable(backend.needs) or backend.needs in UNAVAILABLE):
        raise ValueError(f"backend {backend.name!r}: unknown kind {backend.kind!r} or need {backend.needs!r}")
    known_forms = (CHECKPOINT_FORM,) if backend.kind == ArtifactKind.CHECKPOINT else (*ONNX_FORMS, *TRT_FORMS)
    if not set(backend.forms) <= set(known_forms):
        raise ValueError(f"backend {backend.name!r}: forms {backend.forms} are not among {known_forms}")
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
FP32, FP16, BF16 = Precision.FP32, Precision.FP16, Precision.BF16
CHECKPOINT, ONNX, ENGINE = ArtifactKind.CHECKPOINT, ArtifactKind.ONNX, ArtifactKind.ENGINE
ON_GPU = {"device": "gpu"}
for _backend in (
    Backend("torch", CHECKPOINT, "torch", {"device": "cpu"}, summary="PyTorch eager on the CPU", forms=(CHECKPOINT_FORM,)),
    Backend("torch_compile", CHECKPOINT, "torch_compile", {"device": "cpu"}, summary="torch.compile on the CPU"),
    Backend("torch-cuda", CHECKPOINT, "torch", CUDA, needs="cuda", summary="PyTorch eager on CUDA, fp32",
            forms=(CHECKPOINT_FORM,)),
    Backend("torch-cuda-fp16", CHECKPOINT, "torch", CUDA, FP16, "cuda", "fp16 autocast", forms=(CHECKPOINT_FORM,)),
    Backend("torch-cuda-bf16", CHECKPOINT, "torch", CUDA, BF16, "cuda", "bf16 autocast", forms=(CHECKPOINT_FORM,)),
    Backend("torch-cuda-graphs", CHECKPOINT, "torch", {**CUDA, "cuda_graphs": True}, needs="cuda",
            summary="one CUDA graph per batch shape, fp32", forms=(CHECKPOINT_FORM,)),
    Backend("torch-cuda-graphs-fp16", CHECKPOINT, "torch", {**CUDA, "cuda_graphs": True}, FP16, "cuda",
            "CUDA graphs with fp16 autocast", forms=(CHECKPOINT_FORM,)),
    Backend("torch_compile-cuda", CHECKPOINT, "torch_compile", CUDA, needs="cuda", summary="torch.compile on CUDA"),
    Backend("onnxruntime", ONNX, "onnxruntime", {"provider": "cpu"}, summary="ONNX Runtime, CPU provider",
            forms=ONNX_FORMS, serving=Serving("onnx", "ort-python")),
    Backend("onnxruntime-cuda", ONNX, "onnxruntime", {"provider": "cuda"}, needs="ort-cuda",
            summary="ONNX Runtime, CUDA provider", forms=(FP32, FP16), serving=Serving("onnx", options=ON_GPU)),
    Backend("onnxruntime-tensorrt", ONNX, "onnxruntime", {"provider": "tensorrt"}, needs="ort-tensorrt",
            summary="ONNX Runtime, TensorRT provider (engine cache; built before timing)", forms=(FP32,),
            serving=Serving("onnx", options={**ON_GPU, "trt_accelerator": True, "trt_precision": "FP32"})),
    Backend("onnxruntime-tensorrt-fp16", ONNX, "onnxruntime", {"provider": "tensorrt", "fp16": True}, FP16,
            "ort-tensorrt", "TensorRT provider with trt_fp16_enable", forms=(FP32,),
            serving=Serving("onnx", options={**ON_GPU, "trt_accelerator": True, "trt_precision": "FP16"})),
    Backend("openvino", ONNX, "openvino", needs="openvino", forms=ONNX_FORMS,
            summary="OpenVINO on the CPU in f32 (an int8 Q/DQ export runs its int8 kernels)",
            serving=Serving("ov-python", "ov-python", why=f"on the python backend: {OPENVINO_BACKEND_F32}")),
    Backend("openvino-bf16", ONNX, "openvino", {"precision": BF16}, BF16, "openvino-bf16",
            "OpenVINO with bf16 inference precision (CPUs with native bf16 only)", forms=(FP32,),
            serving=Serving("openvino", "ov-python", {"openvino_precision": BF16})),
    Backend("openvino-static", ONNX, "openvino", {"static_shapes": True}, needs="openvino", forms=ONNX_FORMS,
            summary="OpenVINO in f32 compiled for each batch size (static shapes, as OpenVINO users compile)",
            serving=Serving("ov-python", "ov-python", {"openvino_static_shapes": True},
                            why=f"on the python backend: {OPENVINO_BACKEND_F32}")),
    Backend("openvino-defaults", ONNX, "openvino", {"hints": "default"}, needs="openvino",
            summary="OpenVINO with its own default hints (compile_model(path, 'CPU')): fec-deploy's peer row"),
    Backend("tensorrt", ENGINE, "tensorrt", needs="tensorrt", summary="the export's TensorRT engine", forms=TRT_FORMS,
            serving=Serving("trt", options=ON_GPU)),
    Backend("tensorrt-graphs", ENGINE, "tensorrt", {"cuda_graphs": True}, needs="tensorrt",
            summary="the TensorRT engine replayed as CUDA graphs"),
    Backend("triton-http", ArtifactKind.SERVER_HTTP, "triton", {"protocol": "http"}, needs="triton",
            summary="a model on a running Triton server, over HTTP"),
    Backend("triton-grpc", ArtifactKind.SERVER_GRPC, "triton", {"protocol": "grpc"}, needs="triton",
            summary="a model on a running Triton server, over gRPC"),
):
    register_backend(_backend)
