"""Typed pieces of a Triton model configuration, rendered to config.pbtxt text.

Each dataclass mirrors one message of Triton's `ModelConfig` protobuf (model_config.proto) and knows
how to write itself as protobuf text. `ModelConfig.to_pbtxt()` gives the file's contents; the
checks in `fec.triton.checks` parse that text back with Triton's own schema before it is written.

    config = ModelConfig(name="fecnet_onnx", platform="onnxruntime_onnx", max_batch_size=32,
                         inputs=(Tensor("images", "TYPE_FP32", (3, 112, 112)),),
                         outputs=(Tensor("embeddings", "TYPE_FP32", (16,)),),
                         dynamic_batching=DynamicBatching(max_queue_delay_us=2000))
    text = config.to_pbtxt()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf import text_encoding

# numpy dtype name -> Triton data type; "object" is how numpy holds bytes (TYPE_STRING)
TRITON_DTYPES = {
    "bool": "TYPE_BOOL", "uint8": "TYPE_UINT8", "int8": "TYPE_INT8", "int16": "TYPE_INT16",
    "int32": "TYPE_INT32", "int64": "TYPE_INT64", "float16": "TYPE_FP16", "float32": "TYPE_FP32",
    "float64": "TYPE_FP64", "bfloat16": "TYPE_BF16", "object": "TYPE_STRING", "bytes": "TYPE_STRING",
}
INSTANCE_KINDS = {"cpu": "KIND_CPU", "gpu": "KIND_GPU"}


class PbtxtEnum(str):
    """A protobuf enum value: written without quotes."""


class Message(list):
    """An ordered list of (field, value) pairs; a repeated field is the same key several times."""


def triton_dtype(numpy_name: str) -> str:
    """'float32' -> 'TYPE_FP32'; a KeyError names the unsupported type."""
    try:
        return TRITON_DTYPES[numpy_name]
    except KeyError:
        raise KeyError(f"no Triton data type for numpy dtype {numpy_name!r}") from None


@dataclass(frozen=True)
class Tensor:
    """One input or output: name, Triton data type and dims WITHOUT the batch dimension (-1: any)."""

    name: str
    data_type: str
    dims: tuple[int, ...]
    optional: bool = False

    def message(self) -> Message:
        fields = Message([("name", self.name), ("data_type", PbtxtEnum(self.data_type)), ("dims", tuple(self.dims))])
        if self.optional:
            fields.append(("optional", True))
        return fields


@dataclass(frozen=True)
class InstanceGroup:
    """`count` copies of the model on the CPU or on (some of) the GPUs."""

    kind: str = "KIND_CPU"
    count: int = 1
    gpus: tuple[int, ...] = ()

    def message(self) -> Message:
        fields = Message([("count", self.count), ("kind", PbtxtEnum(self.kind))])
        if self.gpus:
            fields.append(("gpus", tuple(self.gpus)))
        return fields


@dataclass(frozen=True)
class DynamicBatching:
    """Let the server join queued requests into one batch, waiting at most `max_queue_delay_us`."""

    max_queue_delay_us: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    queue_timeout_us: int = 0   # a request queued longer is answered with an error (REJECT); 0: it waits

    def message(self) -> Message:
        fields = Message()
        if self.preferred_batch_sizes:
            fields.append(("preferred_batch_size", tuple(self.preferred_batch_sizes)))
        fields.append(("max_queue_delay_microseconds", self.max_queue_delay_us))
        if self.queue_timeout_us:
            fields.append(("default_queue_policy", Message([
                ("timeout_action", PbtxtEnum("REJECT")), ("default_timeout_microseconds", self.queue_timeout_us),
                ("allow_timeout_override", True)])))
        return fields


@dataclass(frozen=True)
class Warmup:
    """A warm-up request the server runs before it declares the model ready, on zeros.

    Not Triton's random_data: for floats that is random bytes, NaN and infinities included, which the
    embedding model refuses (fec.triton.serving.check_model_batch), so the model would never load.
    """

    name: str
    batch_size: int
    inputs: tuple[Tensor, ...]

    def message(self) -> Message:
        fields = Message([("name", self.name), ("batch_size", self.batch_size)])
        for tensor in self.inputs:
            value = Message([("data_type", PbtxtEnum(tensor.data_type)), ("dims", tuple(tensor.dims)), ("zero_data", True)])
            fields.append(("inputs", Message([("key", tensor.name), ("value", value)])))
        return fields


@dataclass(frozen=True)
class Accelerator:
    """An execution accelerator of the onnxruntime backend (e.g. TensorRT on GPU) with its string parameters."""

    name: str
    parameters: tuple[tuple[str, str], ...] = ()
    on_gpu: bool = True

    def message(self) -> Message:
        fields = Message([("name", self.name)])
        for key, value in self.parameters:
            fields.append(("parameters", Message([("key", key), ("value", value)])))
        return fields


@dataclass(frozen=True)
class EnsembleStep:
    """One model of an ensemble: its input tensors taken from, and outputs given to, ensemble tensors."""

    model_name: str
    input_map: tuple[tuple[str, str], ...]   # (model input, ensemble tensor)
    output_map: tuple[tuple[str, str], ...]  # (model output, ensemble tensor)
    model_version: int = -1

    def message(self) -> Message:
        fields = Message([("model_name", self.model_name), ("model_version", self.model_version)])
        for key, value in self.input_map:
            fields.append(("input_map", Message([("key", key), ("value", value)])))
        for key, value in self.output_map:
            fields.append(("output_map", Message([("key", key), ("value", value)])))
        return fields


@dataclass(frozen=True)
class ModelConfig:
    """A whole config.pbtxt: exactly one of platform / backend names what runs the model."""

    name: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    max_batch_size: int = 0
    platform: str = ""
    backend: str = ""
    default_model_filename: str = ""
    cc_model_filenames: tuple[tuple[str, str], ...] = ()  # (compute capability "8.6", file name)
    instance_groups: tuple[InstanceGroup, ...] = ()
    dynamic_batching: DynamicBatching | None = None
    warmups: tuple[Warmup, ...] = ()
    accelerators: tuple[Accelerator, ...] = ()
    parameters: tuple[tuple[str, str], ...] = ()
    ensemble_steps: tuple[EnsembleStep, ...] = ()
    comment: str = field(default="", compare=False)

    def message(self) -> Message:
        fields = Message([("name", self.name)])
        if self.platform:
            fields.append(("platform", self.platform))
        if self.backend:
            fields.append(("backend", self.backend))
        fields.append(("max_batch_size", self.max_batch_size))
        if self.default_model_filename:
            fields.append(("default_model_filename", self.default_model_filename))
        for capability, filename in self.cc_model_filenames:
            fields.append(("cc_model_filenames", Message([("key", capability), ("value", filename)])))
        fields += [("input", tensor.message()) for tensor in self.inputs]
        fields += [("output", tensor.message()) for tensor in self.outputs]
        fields += [("instance_group", group.message()) for group in self.instance_groups]
        if self.dynamic_batching is not None:
            fields.append(("dynamic_batching", self.dynamic_batching.message()))
        if self.accelerators:
            fields.append(("optimization", self._optimization()))
        for key, value in self.parameters:
            fields.append(("parameters", Message([("key", key), ("value", Message([("string_value", value)]))])))
        fields += [("model_warmup", warmup.message()) for warmup in self.warmups]
        if self.ensemble_steps:
            fields.append(("ensemble_scheduling", Message([("step", step.message()) for step in self.ensemble_steps])))
        return fields

    def _optimization(self) -> Message:
        accelerators = Message()
        for accelerator in self.accelerators:
            key = "gpu_execution_accelerator" if accelerator.on_gpu else "cpu_execution_accelerator"
            accelerators.append((key, accelerator.message()))
        return Message([("execution_accelerators", accelerators)])

    def to_pbtxt(self) -> str:
        header = [f"# {line}".rstrip() for line in self.comment.splitlines()]
        return "\n".join(header + render(self.message())) + "\n"


def render(fields: Message, indent: int = 0) -> list[str]:
    """Protobuf text format lines for `fields`, two spaces per nesting level."""
    pad = "  " * indent
    lines = []
    for key, value in fields:
        if isinstance(value, Message):
            lines.append(f"{pad}{key} {{")
            lines += render(value, indent + 1)
            lines.append(f"{pad}}}")
        elif isinstance(value, tuple):
            lines.append(f"{pad}{key}: [ {', '.join(scalar(item) for item in value)} ]")
        else:
            lines.append(f"{pad}{key}: {scalar(value)}")
    return lines


def scalar(value: Any) -> str:
    if isinstance(value, PbtxtEnum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + text_encoding.CEscape(value, as_utf8=True) + '"'
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as a protobuf scalar")
