"""OpenVINO runner: an ONNX export on Intel's CPU runtime, in f32 or bf16, int8 from a Q/DQ file.

OpenVINO reads the ONNX file fec-export wrote as it is: an fp32 file runs in f32, an int8 Q/DQ file
(`--precision int8 --target cpu`) runs its int8 kernels. On a CPU with native bf16 OpenVINO's own
default inference precision is bf16, which is not what an fp32 export promises; so the runner always
sets the precision hint itself: `precision="fp32"` (the default) is f32 everywhere, and
`precision="bf16"` is refused on a CPU without native bf16 (where OpenVINO falls back to f32 without a
word) instead of running something else under that name. The precision OpenVINO compiled is read back
and must be the one asked for.

    runner = create_runner("openvino", model="export/x/model.onnx", precision="bf16")

OpenVINO is an optional extra: `pip install openvino` (or `pip install 'fec[openvino]'`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fec.artifacts import FLOAT32_NCHW, UINT8_NHWC, input_pixels
from fec.hardware import native_bf16
from fec.runtimes.base import Runner, RunnerError, register_runner
from fec.vocabulary import Precision

INSTALL_HINT = "pip install openvino (or pip install 'fec[openvino]')"
PRECISION_HINTS = {Precision.FP32: "f32", Precision.BF16: "bf16"}


def import_openvino():
    try:
        import openvino
    except ImportError:
        raise RunnerError(f"OpenVINO is not installed; {INSTALL_HINT}") from None
    return openvino


HINTS = ("fec", "default")  # fec: the precision pinned and a latency hint; default: OpenVINO's own choices


@register_runner("openvino")
class OpenVinoRunner(Runner):
    name = "openvino"

    def __init__(self, model: str | Path, precision: str = Precision.FP32, threads: int | None = None, device: str = "CPU",
                 hints: str = "fec", static_shapes: bool = False):
        if precision not in PRECISION_HINTS:
            raise RunnerError(f"openvino: precision must be one of {', '.join(PRECISION_HINTS)}, got {precision!r}")
        if hints not in HINTS or (hints == "default" and precision != Precision.FP32):
            raise RunnerError(f"openvino: hints must be one of {', '.join(HINTS)} (default with precision fp32 only)")
        self.model_path, self.precision, self.threads, self.device = Path(model), precision, threads, device
        self.hints, self.static_shapes = hints, static_shapes
        self.compiled = self.request = self.core = self.model = None
        self.by_batch: dict[int, tuple] = {}   # static shapes: batch size -> (compiled model, infer request)
        self.input_format = FLOAT32_NCHW

    def activate(self) -> None:
        openvino = import_openvino()
        if not self.model_path.is_file():
            raise RunnerError(f"openvino: {self.model_path}: ONNX file not found")
        self.core = openvino.Core()
        if self.precision == Precision.BF16 and not native_bf16():
            raise RunnerError("openvino: this CPU has no native bf16 (AVX-512 BF16 or AMX, with oneDNN allowed to use it); "
                              "use precision fp32 here")
        try:
            self.model = self.core.read_model(str(self.model_path))
            self.compiled = self.core.compile_model(self.model, self.device, self._config())
        except RuntimeError as exc:  # OpenVINO's own exception for files it cannot read
            raise RunnerError(f"openvino: cannot load {self.model_path}: {str(exc).splitlines()[0][:200]}") from None
        self.request = self.compiled.create_infer_request()
        if self.hints == "fec":
            self._check_precision()
        self._read_io()

    def _check_precision(self) -> None:
        """What OpenVINO compiled must be what was asked for: a hint it cannot honour falls back silently."""
        compiled = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if compiled != PRECISION_HINTS[self.precision]:
            self.deactivate()
            raise RunnerError(f"openvino: asked for {self.precision}, but OpenVINO compiled {self.model_path} in "
                              f"{compiled}; use precision fp32 here")

    def _config(self) -> dict:
        config = {"INFERENCE_NUM_THREADS": int(self.threads)} if self.threads else {}
        if self.hints == "fec":
            config.update({"INFERENCE_PRECISION_HINT": PRECISION_HINTS[self.precision], "PERFORMANCE_HINT": "LATENCY"})
        return config

    def _static(self, batch: int) -> tuple:
        """The model compiled for exactly `batch` inputs (an OpenVINO user's static shape), made on first use."""
        if batch not in self.by_batch:
            model = self.model.clone()
            shape = list(model.inputs[0].get_partial_shape())
            shape[0] = batch
            model.reshape({model.inputs[0]: import_openvino().PartialShape(shape)})
            compiled = self.core.compile_model(model, self.device, self._config())
            self.by_batch[batch] = (compiled, compiled.create_infer_request())
        return self.by_batch[batch]

    def _read_io(self) -> None:
        inputs, outputs = self.compiled.inputs, self.compiled.outputs
        if len(inputs) != 1 or len(outputs) != 1:
            raise RunnerError(f"openvino: {self.model_path} must have one input and one output, "
                              f"has {len(inputs)} and {len(outputs)}")
        source = inputs[0]
        self.input_format = UINT8_NHWC if source.get_element_type().get_type_name() == "u8" else FLOAT32_NCHW
        shape = [dim.get_length() if dim.is_static else None for dim in source.get_partial_shape()]
        self.input_size = input_pixels(shape, self.input_format)
        self.max_batch = shape[0]

    def deactivate(self) -> None:
        self.compiled = self.request = self.core = self.model = None
        self.by_batch = {}

    def describe(self) -> dict:
        info = {"runner": self.name, "model": str(self.model_path), "device": self.device, "precision": self.precision,
                "hints": self.hints, "static_shapes": self.static_shapes}
        if self.compiled is not None:
            hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")
            info.update(openvino=import_openvino().__version__, inference_precision=hint.get_type_name(),
                        performance_hint=str(self.compiled.get_property("PERFORMANCE_HINT")))
        return info

    def inference_errors(self) -> tuple[type[BaseException], ...]:
        return (RuntimeError,)  # OpenVINO raises plain RuntimeErrors, e.g. "[CPU] MVN node ... bad combination"

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        compiled, request = self._static(len(batch)) if self.static_shapes else (self.compiled, self.request)
        result = request.infer({0: np.ascontiguousarray(batch)})
        return np.array(result[compiled.outputs[0]], copy=True)
