"""What a served model takes and gives: tensor names, numpy dtypes and full shapes (batch axis first).

Configs are checked against these, read from the exported files themselves (the ONNX graph, the
engine's sidecar), never from what we meant to export.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fec.triton.errors import RepositoryError

DYNAMIC = -1


@dataclass(frozen=True)
class TensorInfo:
    """A model tensor; `shape` includes the batch axis, DYNAMIC where any size goes."""

    name: str
    dtype: str  # numpy dtype name: "float32", "uint8", "object" (bytes)
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ModelIO:
    """Inputs and outputs of a model, and the largest batch it accepts (None: no limit)."""

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    max_batch: int | None = None

    def input(self, name: str) -> TensorInfo | None:
        return next((tensor for tensor in self.inputs if tensor.name == name), None)

    def output(self, name: str) -> TensorInfo | None:
        return next((tensor for tensor in self.outputs if tensor.name == name), None)


def onnx_model_io(path: str | Path) -> ModelIO:
    """The graph inputs and outputs of an ONNX file, after shape inference (symbolic axes become DYNAMIC)."""
    import onnx

    try:  # the graph is all we need: never follow an external-data location out of the folder
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and others for garbage
        raise RepositoryError(f"{path}: not a readable ONNX file ({type(exc).__name__}); re-export it with fec-export") from None
    try:  # resolves axes an exporter left symbolic (e.g. the embedding width after the L2 normalisation)
        proto = onnx.shape_inference.infer_shapes(proto)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError):
        pass  # inference is a refinement; the declared shapes still stand

    def describe(value) -> TensorInfo:
        tensor = value.type.tensor_type
        dims = tuple(dim.dim_value if dim.HasField("dim_value") else DYNAMIC for dim in tensor.shape.dim)
        return TensorInfo(value.name, onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name, dims)

    initializers = {init.name for init in proto.graph.initializer}
    inputs = tuple(describe(value) for value in proto.graph.input if value.name not in initializers)
    return ModelIO(inputs, tuple(describe(value) for value in proto.graph.output))
