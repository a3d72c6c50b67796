"""A recording FAKE of the `tensorrt` Python module, for testing fec's orchestration without TensorRT.

This is not TensorRT and proves nothing about engines: it imitates the documented surface of the
TensorRT 10.x or 11.x Python API that fec uses, records every call, and fails the way the real API
would where that matters here (11.x has no BuilderFlag.FP16/INT8, no EXPLICIT_BATCH; a strongly
typed 10.x network rejects precision flags; an engine only deserialises on the fake version that
built it). Its "engine" computes a simple known function so the runner's data path can be checked.
Real builds run in tests marked `tensorrt` and in benchmarks/gpu_check.sh.
"""

from __future__ import annotations

import contextlib
import enum
import json
import types

import numpy as np
import onnx

PLAN_MAGIC = b"FAKEPLAN"
EMBEDDING_DIM = 16


def fake_embeddings(batch: np.ndarray) -> np.ndarray:
    """What the fake engine computes: channel means weighted by position, L2-normalised."""
    channels = batch.mean(axis=(1, 2)) if batch.shape[-1] == 3 else batch.mean(axis=(2, 3))
    raw = np.stack([channels[:, j % 3] * (j + 1) + 0.01 * j for j in range(EMBEDDING_DIM)], axis=1)
    return (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)


class FakeCudaMemory:
    """Stands in for TorchCudaMemory: 'device' buffers are numpy arrays keyed by a fake address."""

    def __init__(self, calls: list, device: int = 0):
        self.buffers: dict[int, np.ndarray] = {}
        self.calls = calls
        self.next_address = 0x1000
        self.device, self.current_device = device, 0  # the buffers' GPU; the current one (CUDA's default: 0)

    @contextlib.contextmanager
    def on_device(self):
        before, self.current_device = self.current_device, self.device
        try:
            yield
        finally:
            self.current_device = before

    def _store(self, array: np.ndarray) -> int:
        address, self.next_address = self.next_address, self.next_address + 0x1000
        self.buffers[address] = array
        return address

    def upload(self, array: np.ndarray) -> int:
        self.calls.append(("upload", array.shape))
        return self._store(np.array(array))

    def empty(self, shape, dtype) -> int:
        return self._store(np.zeros(shape, dtype=dtype))

    def address(self, buffer: int) -> int:
        return buffer

    def stream_handle(self) -> int:
        return 0xBEEF

    def download(self, buffer: int) -> np.ndarray:
        self.calls.append(("download",))
        return self.buffers[buffer].copy()

    def copy_into(self, buffer: int, array: np.ndarray) -> None:
        self.calls.append(("copy_into", buffer, array.shape))
        self.buffers[buffer][...] = array

    def capture(self, enqueue):
        """A 'graph' is the recorded function: captured work is not run until replayed."""
        self.calls.append(("capture",))
        return enqueue

    def replay(self, graph) -> None:
        self.calls.append(("replay",))
        graph()


def make_fake_tensorrt(version: str = "10.8.0.43") -> types.ModuleType:
    """A fresh fake module imitating TensorRT `version` (10.x or 11.x)."""
    major = int(version.split(".")[0])
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = []
    trt.memory = FakeCudaMemory(trt.calls)
    _add_enums(trt, major)
    _add_builder(trt, major)
    _add_runtime(trt)
    return trt


def _add_enums(trt, major: int) -> None:
    creation = {"STRONGLY_TYPED": 1, "PREFER_AOT_PYTHON_PLUGINS": 2, "PREFER_JIT_PYTHON_PLUGINS": 3}
    builder_flags = {"TF32": 5, "VERSION_COMPATIBLE": 11, "EXCLUDE_LEAN_RUNTIME": 12, "REFIT": 4}
    if major == 10:
        creation["EXPLICIT_BATCH"] = 0
        builder_flags.update(FP16=0, INT8=1, BF16=17, OBEY_PRECISION_CONSTRAINTS=9, PREFER_PRECISION_CONSTRAINTS=10)
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", creation)
    trt.BuilderFlag = enum.IntEnum("BuilderFlag", builder_flags)
    trt.MemoryPoolType = enum.IntEnum("MemoryPoolType", {"WORKSPACE": 0, "TACTIC_SHARED_MEMORY": 4})
    trt.HardwareCompatibilityLevel = enum.IntEnum("HardwareCompatibilityLevel",
                                                  {"NONE": 0, "AMPERE_PLUS": 1, "SAME_COMPUTE_CAPABILITY": 2})
    trt.DataType = enum.IntEnum("DataType", {"FLOAT": 0, "HALF": 1, "INT8": 2, "INT32": 3, "UINT8": 5})
    trt.TensorIOMode = enum.IntEnum("TensorIOMode", {"NONE": 0, "INPUT": 1, "OUTPUT": 2})
    numpy_types = {trt.DataType.FLOAT: np.float32, trt.DataType.HALF: np.float16, trt.DataType.UINT8: np.uint8,
                   trt.DataType.INT8: np.int8, trt.DataType.INT32: np.int32}
    trt.nptype = lambda dtype: numpy_types[dtype]

    class Logger:
        WARNING, INFO, ERROR = 2, 3, 1

        def __init__(self, severity=2):
            self.severity = severity

    trt.Logger = Logger


class _Tensor:
    def __init__(self, name: str, shape: tuple, dtype):
        self.name, self.shape, self.dtype = name, shape, dtype


def _add_builder(trt, major: int) -> None:
    calls = trt.calls

    class Network:
        def __init__(self, flags: int):
            self.flags, self.inputs, self.outputs = flags, [], []

        @property
        def num_inputs(self):
            return len(self.inputs)

        def get_input(self, index):
            return self.inputs[index]

        def get_output(self, index):
            return self.outputs[index]

    class OnnxParser:
        def __init__(self, network, logger):
            self.network, self.errors = network, []

        @property
        def num_errors(self):
            return len(self.errors)

        def get_error(self, index):
            return self.errors[index]

        def parse_from_file(self, path: str) -> bool:
            calls.append(("parse_from_file", path))
            try:
                model = onnx.load(path)
            except Exception as exc:
                self.errors.append(f"ModelImporter: failed to parse the ONNX file ({type(exc).__name__})")
                return False
            value = model.graph.input[0]
            dims = tuple(dim.dim_value or -1 for dim in value.type.tensor_type.shape.dim)
            dtype = trt.DataType.UINT8 if value.type.tensor_type.elem_type == onnx.TensorProto.UINT8 else trt.DataType.FLOAT
            self.network.inputs = [_Tensor(value.name, dims, dtype)]
            self.network.outputs = [_Tensor(model.graph.output[0].name, (-1, EMBEDDING_DIM), trt.DataType.FLOAT)]
            return True

    class TimingCache:
        def __init__(self, data: bytes):
            self.data = bytes(data)

        def serialize(self) -> bytes:
            return self.data + b"|tactics"

    class Profile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, min, opt, max):
            calls.append(("set_shape", name, tuple(min), tuple(opt), tuple(max)))
            if not all(a <= b <= c for a, b, c in zip(min, opt, max)):
                raise ValueError("profile dimensions must satisfy min <= opt <= max")
            self.shapes[name] = (tuple(min), tuple(opt), tuple(max))

    class Config:
        def __init__(self):
            self.flags, self.profiles, self.cache = {trt.BuilderFlag.TF32}, [], None
            self._level, self._hardware = 3, trt.HardwareCompatibilityLevel.NONE

        def set_memory_pool_limit(self, pool, size):
            calls.append(("set_memory_pool_limit", pool.name, size))

        def set_flag(self, flag):
            calls.append(("set_flag", flag.name))
            self.flags.add(flag)

        def clear_flag(self, flag):
            calls.append(("clear_flag", flag.name))
            self.flags.discard(flag)

        @property
        def builder_optimization_level(self):
            return self._level

        @builder_optimization_level.setter
        def builder_optimization_level(self, level):
            calls.append(("builder_optimization_level", level))
            self._level = level

        @property
        def hardware_compatibility_level(self):
            return self._hardware

        @hardware_compatibility_level.setter
        def hardware_compatibility_level(self, level):
            calls.append(("hardware_compatibility_level", level.name))
            self._hardware = level

        def add_optimization_profile(self, profile):
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, data):
            calls.append(("create_timing_cache", bytes(data)))
            return TimingCache(data)

        def set_timing_cache(self, cache, ignore_mismatch):
            calls.append(("set_timing_cache", ignore_mismatch))
            self.cache = cache
            return True

        def get_timing_cache(self):
            return self.cache

    class Builder:
        def __init__(self, logger):
            self.logger = logger

        def create_network(self, flags=0):
            calls.append(("create_network", flags))
            return Network(flags)

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            calls.append(("build_serialized_network",))
            strongly_typed = major >= 11 or network.flags & (1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
            weak_flags = {"FP16", "INT8", "BF16"} & {flag.name for flag in config.flags}
            if strongly_typed and weak_flags:
                raise TypeError(f"precision flags {weak_flags} are not allowed on a strongly typed network")
            if len(config.profiles) != 1:
                return None
            tensor, output = network.inputs[0], network.outputs[0]
            description = {"version": trt.__version__, "input": tensor.name, "output": output.name,
                           "dtype": tensor.dtype.name, "profile": config.profiles[0].shapes[tensor.name],
                           "version_compatible": trt.BuilderFlag.VERSION_COMPATIBLE in config.flags}
            return PLAN_MAGIC + json.dumps(description).encode()

    trt.Builder, trt.OnnxParser = Builder, OnnxParser


def _add_runtime(trt) -> None:
    calls = trt.calls
    trt.device_log = []  # (what, the CUDA device current then): the real runtime works on the current device

    def on_current_device(what: str) -> None:
        trt.device_log.append((what, trt.memory.current_device))

    class Context:
        def __init__(self, engine):
            self.engine, self.addresses, self.shapes = engine, {}, {}

        def set_input_shape(self, name, shape):
            calls.append(("set_input_shape", name, tuple(shape)))
            low, _, high = self.engine.description["profile"]
            if not all(a <= s <= b for a, s, b in zip(low, shape, high)):
                return False
            self.shapes[name] = tuple(shape)
            return True

        def get_tensor_shape(self, name):
            return (self.shapes[self.engine.description["input"]][0], EMBEDDING_DIM)

        def set_tensor_address(self, name, address):
            calls.append(("set_tensor_address", name))
            self.addresses[name] = address

        def execute_async_v3(self, stream_handle):
            calls.append(("execute_async_v3", stream_handle))
            on_current_device("execute_async_v3")
            description, buffers = self.engine.description, trt.memory.buffers
            batch = buffers[self.addresses[description["input"]]]
            buffers[self.addresses[description["output"]]][...] = fake_embeddings(batch.astype(np.float32))
            return True

    class Engine:
        def __init__(self, description):
            self.description = description
            self.names = [description["input"], description["output"]]

        @property
        def num_io_tensors(self):
            return 2

        def get_tensor_name(self, index):
            return self.names[index]

        def get_tensor_mode(self, name):
            return trt.TensorIOMode.INPUT if name == self.description["input"] else trt.TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name):
            return trt.DataType.FLOAT if name == self.description["output"] else trt.DataType[self.description["dtype"]]

        def create_execution_context(self):
            on_current_device("create_execution_context")
            return Context(self)

    class Runtime:
        def __init__(self, logger):
            self.engine_host_code_allowed = False

        def deserialize_cuda_engine(self, payload: bytes):
            calls.append(("deserialize_cuda_engine", self.engine_host_code_allowed))
            on_current_device("deserialize_cuda_engine")
            if not payload.startswith(PLAN_MAGIC):
                return None
            description = json.loads(payload[len(PLAN_MAGIC):])
            built, running = description["version"].split("."), trt.__version__.split(".")
            portable = description["version_compatible"] and self.engine_host_code_allowed and built[0] == running[0]
            if description["version"] != trt.__version__ and not portable:
                return None  # the real runtime refuses plans from another version
            return Engine(description)

    trt.Runtime = Runtime
