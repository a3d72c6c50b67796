"""ONNX Runtime runner: an ONNX file on the CPU, CUDA or TensorRT execution provider.

onnxruntime-gpu lists the CUDA and TensorRT providers even where they cannot load, and then
silently runs on the CPU; so the provider that really runs is read back from the session
(`get_providers()`) and a silent fallback is an error, never a result labelled with the wrong name.

    runner = create_runner("onnxruntime", model="export/x/model.onnx", provider="cuda")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fec.runtimes.base import Runner, RunnerError, register_runner

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
INSTALL_HINT = "pip install onnxruntime (CPU) or onnxruntime-gpu (CUDA/TensorRT), never both"
UINT8_NHWC = "uint8-nhwc"
FLOAT_NCHW = "float32-nchw"


@register_runner("onnxruntime")
class OnnxRuntimeRunner(Runner):
    name = "onnxruntime"

    def __init__(self, model: str | Path, provider: str = "cpu", threads: int | None = None,
                 provider_options: dict | None = None):
        if provider not in PROVIDERS:
            raise RunnerError(f"onnxruntime: provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
        self.model_path, self.provider = Path(model), provider
        self.threads, self.provider_options = threads, dict(provider_options or {})
        self.session = None
        self.input_format = FLOAT_NCHW

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
        providers = [(wanted, self.provider_options)]
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
        self.input_format = UINT8_NHWC if inputs[0].type == "tensor(uint8)" else FLOAT_NCHW
        size = shape[1] if self.input_format == UINT8_NHWC else shape[2]
        self.input_size = size if isinstance(size, int) else 0
        self.max_batch = shape[0] if isinstance(shape[0], int) else None

    def deactivate(self) -> None:
        self.session = None

    def describe(self) -> dict:
        running = self.session.get_providers() if self.session is not None else []
        return {"runner": self.name, "provider": running[0] if running else None, "providers": running,
                "model": str(self.model_path), "onnxruntime": import_onnxruntime().__version__}

    def _check_feed(self, batch: np.ndarray) -> None:
        if self.input_format == FLOAT_NCHW:
            return super()._check_feed(batch)
        if not isinstance(batch, np.ndarray) or batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[3] != 3:
            raise RunnerError(f"{self.name}: this model takes uint8 RGB batches (N, H, W, 3), got "
                              f"{getattr(batch, 'dtype', type(batch))} {getattr(batch, 'shape', '')}")
        if self.input_size and batch.shape[1:3] != (self.input_size, self.input_size):
            raise RunnerError(f"{self.name}: input must be {self.input_size}x{self.input_size}, "
                              f"got {batch.shape[1]}x{batch.shape[2]}")

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: batch})[0]


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise RunnerError(f"onnxruntime is not installed; {INSTALL_HINT}") from None
    return onnxruntime
