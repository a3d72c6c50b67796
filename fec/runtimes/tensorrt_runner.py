"""TensorRT runner: a raw `.plan` engine plus its sidecar JSON, on TensorRT 10.x or 11.x.

The plan has no header (trtexec and Triton load it as is); `<plan>.json` beside it records the
TensorRT version, GPU, optimization profile, precision and source ONNX hash. Loading checks the
sidecar against the running TensorRT and GPU first and fails with one line naming what differs and
the command that rebuilds the engine, instead of TensorRT's deserialisation error.

Inference uses the name-based API of both generations (set_input_shape, set_tensor_address,
execute_async_v3); device buffers and the stream come from PyTorch, so no pycuda is needed.

With `cuda_graphs=True` each batch shape gets static device buffers and one CUDA graph of
execute_async_v3 (captured on the runner's stream after one plain run, as TensorRT requires after a
shape change); later calls copy the batch in, replay the graph and copy the result out.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from fec.artifacts import FLOAT32_NCHW, TENSORRT_INSTALL_HINT, EngineSidecar, read_sidecar, version_tuple
from fec.errors import ArtifactError, HardwareError
from fec.hardware import GpuInfo, current_gpu
from fec.runtimes.base import Runner, RunnerError, register_runner


class EngineMismatchError(RunnerError):
    """An engine built for another TensorRT version or GPU than the one here."""


def import_tensorrt():
    try:
        import tensorrt
    except ImportError:
        raise RunnerError(f"TensorRT is not installed; {TENSORRT_INSTALL_HINT}") from None
    return tensorrt


def compatibility_problems(sidecar: EngineSidecar, tensorrt_version: str, gpu: GpuInfo) -> list[str]:
    """Why an engine cannot run here; empty when it can."""
    problems = []
    built, running = version_tuple(sidecar.tensorrt_version), version_tuple(tensorrt_version)
    if sidecar.version_compatible:
        if running[:1] != built[:1] or running < built:
            problems.append(f"TensorRT {sidecar.tensorrt_version} (version-compatible within {built[0]}.x, "
                            f"not older) vs {tensorrt_version} here")
    elif built != running:
        problems.append(f"TensorRT {sidecar.tensorrt_version} vs {tensorrt_version} here")
    level, engine_gpu = sidecar.hardware_compatibility, sidecar.gpu
    if level == "ampere+":
        if version_tuple(gpu.compute_capability) < (8, 0):
            problems.append(f"GPU {gpu.name} ({gpu.sm}) is older than Ampere")
    elif engine_gpu.compute_capability != gpu.compute_capability or (level == "none" and engine_gpu.name != gpu.name):
        problems.append(f"GPU {engine_gpu.name} ({engine_gpu.sm}) vs {gpu.name} ({gpu.sm}) here")
    return problems


def check_compatible(plan: Path, sidecar: EngineSidecar, tensorrt_version: str, gpu: GpuInfo) -> None:
    problems = compatibility_problems(sidecar, tensorrt_version, gpu)
    if problems:
        raise EngineMismatchError(f"{plan}: engine built for another machine ({'; '.join(problems)}); "
                                  f"rebuild it here: {sidecar.rebuild}")


class TorchCudaMemory:
    """Device buffers and a CUDA stream through PyTorch (already a dependency)."""

    def __init__(self, device: int = 0):
        import torch

        self.torch = torch
        self.device = torch.device("cuda", device)
        self.stream = torch.cuda.Stream(self.device)

    def on_device(self):
        """This GPU as the current one: TensorRT deserialises, allocates and runs on the current device."""
        return self.torch.cuda.device(self.device)

    def upload(self, array: np.ndarray):
        with self.torch.cuda.stream(self.stream):
            return self.torch.from_numpy(np.ascontiguousarray(array)).to(self.device, non_blocking=False)

    def empty(self, shape: tuple[int, ...], dtype: np.dtype):
        torch_dtype = self.torch.from_numpy(np.empty(0, dtype=dtype)).dtype
        with self.torch.cuda.stream(self.stream):
            return self.torch.empty(shape, dtype=torch_dtype, device=self.device)

    def address(self, buffer) -> int:
        return buffer.data_ptr()

    def stream_handle(self) -> int:
        return self.stream.cuda_stream

    def download(self, buffer) -> np.ndarray:
        self.stream.synchronize()
        return buffer.cpu().numpy()

    def copy_into(self, buffer, array: np.ndarray) -> None:
        with self.torch.cuda.stream(self.stream):
            buffer.copy_(self.torch.from_numpy(np.ascontiguousarray(array)))

    def capture(self, enqueue):
        """A CUDA graph of the work `enqueue()` puts on this stream."""
        self.stream.synchronize()
        graph = self.torch.cuda.CUDAGraph()
        with self.torch.cuda.graph(graph, stream=self.stream):
            enqueue()
        return graph

    def replay(self, graph) -> None:
        with self.torch.cuda.stream(self.stream):
            graph.replay()


@register_runner("tensorrt")
class TensorRTRunner(Runner):
    name = "tensorrt"

    def __init__(self, engine: str | Path, device: int = 0, trt=None, gpu: GpuInfo | None = None, memory=None,
                 cuda_graphs: bool = False):
        # trt, gpu and memory stand in for the real module, GPU query and CUDA buffers in tests
        self.plan, self.device, self.cuda_device = Path(engine), device, device
        self._trt, self._gpu, self._memory = trt, gpu, memory
        self.cuda_graphs = cuda_graphs
        self.graphs: dict[tuple[int, ...], tuple[object, object, object, object]] = {}  # graph, in, out, context
        self.context = None
        self.input_format = FLOAT32_NCHW

    def activate(self) -> None:
        trt = self._trt or import_tensorrt()
        if not self.plan.is_file():
            raise RunnerError(f"{self.plan}: engine file not found")
        try:
            self.sidecar = read_sidecar(self.plan)
            gpu = self._gpu or current_gpu(self.device)
        except (ArtifactError, HardwareError) as exc:
            raise RunnerError(str(exc)) from None
        check_compatible(self.plan, self.sidecar, trt.__version__, gpu)
        payload = self.plan.read_bytes()
        if hashlib.sha256(payload).hexdigest() != self.sidecar.plan_sha256:
            raise RunnerError(f"{self.plan}: engine differs from the one its sidecar describes; rebuild: {self.sidecar.rebuild}")
        self.memory = self._memory or TorchCudaMemory(self.device)
        with self.memory.on_device():
            self.engine = self._deserialize(trt, payload)
            self.context = self.engine.create_execution_context()
        self.trt, self.gpu = trt, gpu
        self.input_size, self.max_batch = self.sidecar.input_size, self.sidecar.max_batch
        self.input_format = self.sidecar.input_format
        self._check_io_names(trt)

    def _deserialize(self, trt, payload: bytes):
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        if self.sidecar.version_compatible:
            self.runtime.engine_host_code_allowed = True  # version-compatible plans embed their lean runtime
        engine = self.runtime.deserialize_cuda_engine(payload)
        if engine is None:
            raise RunnerError(f"{self.plan}: TensorRT {trt.__version__} could not deserialise the engine; "
                              f"rebuild: {self.sidecar.rebuild}")
        return engine

    def _check_io_names(self, trt) -> None:
        names = [self.engine.get_tensor_name(index) for index in range(self.engine.num_io_tensors)]
        inputs = [name for name in names if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT]
        outputs = [name for name in names if name not in inputs]
        if inputs != [self.sidecar.input_name] or outputs != [self.sidecar.output_name]:
            raise RunnerError(f"{self.plan}: engine tensors {inputs} -> {outputs} do not match its sidecar")

    def deactivate(self) -> None:
        self.graphs.clear()
        self.context = None
        self.engine = None

    def describe(self) -> dict:
        info = {"runner": self.name, "engine": str(self.plan), "cuda_graphs": self.cuda_graphs}
        if self.context is not None:
            info.update(tensorrt=self.trt.__version__, gpu=self.gpu.name, compute_capability=self.gpu.compute_capability,
                        precision=self.sidecar.precision)
        return info

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        with self.memory.on_device():
            if self.cuda_graphs:
                return self._replay(batch)
            inputs, outputs = self._bind(batch, self.context)
            self._execute(batch.shape[0], self.context)
            return self.memory.download(outputs)

    def _bind(self, batch: np.ndarray, context):
        """Upload `batch`, set the input shape, allocate the output, point `context` at both."""
        memory, names = self.memory, (self.sidecar.input_name, self.sidecar.output_name)
        inputs = memory.upload(batch)
        if context.set_input_shape(names[0], tuple(batch.shape)) is False:
            raise RunnerError(f"{self.name}: batch shape {batch.shape} is outside the engine's profile {self.sidecar.profile}")
        shape = tuple(context.get_tensor_shape(names[1]))
        outputs = memory.empty(shape, self.trt.nptype(self.engine.get_tensor_dtype(names[1])))
        context.set_tensor_address(names[0], memory.address(inputs))
        context.set_tensor_address(names[1], memory.address(outputs))
        return inputs, outputs

    def _execute(self, count: int, context) -> None:
        if not context.execute_async_v3(self.memory.stream_handle()):
            raise RunnerError(f"{self.name}: TensorRT failed to run the engine on a batch of {count}")

    def _replay(self, batch: np.ndarray) -> np.ndarray:
        shape = tuple(batch.shape)
        if shape not in self.graphs:
            # one execution context per captured shape: a graph replays the context state it was captured with,
            # and binding another shape to a shared context would change it under the earlier graphs
            context = self.engine.create_execution_context()
            inputs, outputs = self._bind(batch, context)
            self._execute(shape[0], context)  # one plain run after the shape change, before capturing
            graph = self.memory.capture(lambda: self._execute(shape[0], context))
            self.graphs[shape] = (graph, inputs, outputs, context)
        graph, inputs, outputs, _ = self.graphs[shape]
        self.memory.copy_into(inputs, batch)
        self.memory.replay(graph)
        return self.memory.download(outputs)
