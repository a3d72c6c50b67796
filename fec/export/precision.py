"""Reduced precision as ONNX graphs: FP16 by mixed-precision conversion, INT8 by explicit Q/DQ nodes.

TensorRT 11 takes precision only from the graph (strongly typed networks), so FP16 and INT8 are
ONNX files too, and every one of them also runs, and is verified, on ONNX Runtime's CPU provider.

* FP16: every float tensor becomes float16 except the graph's float32 input and output (Cast nodes
  at the edges) and the L2 normalisation at the end, whose sum of squares could overflow float16.
* INT8 depends on where it will run (`target`):
  - `cpu`: ONNX Runtime static QDQ, uint8 activations, per-channel int8 weights, MinMax ranges
    (about 2x fp32 speed on AVX2 CPUs for ResNet18);
  - `tensorrt`: symmetric int8 Q/DQ with zero points of 0, TensorRT's explicit-quantization format,
    made by NVIDIA ModelOpt (`--quantizer modelopt`, an optional extra with clashing dependencies)
    or by ONNX Runtime's quantizer in symmetric mode (`--quantizer onnxruntime`).
  Both keep narrow convolutions (fewer than 48 channels in or out, including the first one, which
  sees raw pixels) and the embedding head's fully connected layers in float: they are cheap and
  the most sensitive to rounding.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from fec.export.calibration import batches
from fec.export.errors import ExportError, MissingToolError
from fec.export.registry import INT8_TARGETS, NARROW_CHANNELS, NNCF_SETTINGS
from fec.vocabulary import Precision

LINEAR_OPS = ("Conv", "Gemm", "MatMul")
ONNXRUNTIME_HINT = "pip install onnxruntime (CPU) or onnxruntime-gpu"
MODELOPT_HINT = ("pip install 'nvidia-modelopt[onnx]' in a separate environment (it replaces onnxruntime with "
                 "onnxruntime-gpu and pins an older onnx), or pass --quantizer onnxruntime")


# --------------------------------------------------------------------------- graph helpers


def name_nodes(graph: onnx.GraphProto) -> None:
    """Give unnamed nodes unique names so they can be listed for exclusion."""
    taken = {node.name for node in graph.node if node.name}
    for index, node in enumerate(graph.node):
        if not node.name:
            candidate = f"{node.op_type}_{index}"
            while candidate in taken:
                candidate += "_"
            node.name = candidate
            taken.add(candidate)


def sort_topologically(graph: onnx.GraphProto) -> None:
    """Reorder nodes so each comes after its inputs' producers (converters may append Casts at the end)."""
    available = {value.name for value in graph.input} | {tensor.name for tensor in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [node for node in pending if all(name in available for name in node.input)]
        if not ready:
            raise ExportError(f"graph has a cycle or a dangling input near node {pending[0].name!r}")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        ready_ids = {id(node) for node in ready}
        pending = [node for node in pending if id(node) not in ready_ids]
    del graph.node[:]
    graph.node.extend(ordered)


def producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {output: node for node in graph.node for output in node.output}


def normalisation_tail(graph: onnx.GraphProto) -> list[str]:
    """Names of the nodes between the last linear layer and the output: the L2 normalisation."""
    made_by = producers(graph)
    tail, stack, seen = [], [value.name for value in graph.output], set()
    while stack:
        node = made_by.get(stack.pop())
        if node is None or node.name in seen or node.op_type in LINEAR_OPS:
            continue
        seen.add(node.name)
        tail.append(node.name)
        stack.extend(node.input)
    return tail


def sensitive_nodes(graph: onnx.GraphProto, float_below: int = NARROW_CHANNELS) -> list[str]:
    """Layers kept in float when quantizing: the input standardisation, narrow convolutions and the head.

    The per-image standardisation (InstanceNormalization on the input) stays float so that the first
    convolution, kept in float below, also reads float pixels: quantizing the standardised picture
    per tensor cost one briefly trained ResNet18 its int8 thresholds (worst cosine 0.95, +1.3 points).

    A convolution with fewer than `float_below` (default NARROW_CHANNELS) input or output channels (the first one, which
    sees raw pixels, and the thin early stages of MobileNet-style trunks) has too few channels to
    average out the rounding of its per-tensor activation scale. On one briefly trained
    MobileNetV3-small FECNet this lifted the worst face's cosine to fp32 from 0.91 to 0.99; on
    another it stayed near 0.93, so INT8 MobileNetV3 remains fragile. ResNet18 loses little
    (worst face 0.99+). For ResNet18 only the first convolution is affected.
    """
    weights = {tensor.name: tensor.dims for tensor in graph.initializer}
    standardization = [node.name for node in graph.node if node.op_type == "InstanceNormalization"]
    narrow = [node.name for node in graph.node if node.op_type == "Conv" and conv_width(node, weights) < float_below]
    last_conv = max((index for index, node in enumerate(graph.node) if node.op_type == "Conv"), default=-1)
    # Everything after the last convolution is the small embedding head (pool, FC, BN, ReLU, FC, L2).
    head = [node.name for node in graph.node[last_conv + 1:]]
    return standardization + narrow + head


def conv_width(node: onnx.NodeProto, weights: dict) -> int:
    """min(input channels, output channels) of a Conv whose weight is an initializer (else a large number)."""
    dims = weights.get(node.input[1]) if len(node.input) > 1 else None
    if not dims or len(dims) < 2:
        return 1 << 30
    group = next((attribute.i for attribute in node.attribute if attribute.name == "group"), 1)
    return min(dims[0], dims[1] * group)


def _import(module: str, hint: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingToolError(f"{module} is not installed; {hint}") from None


@contextlib.contextmanager
def _quiet():
    """Silence the chatty quantizers and converters (stdout, stderr progress bars, warnings and the root logger)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(previous)


# --------------------------------------------------------------------------- FP16

FLOAT, HALF = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
FP32_OPS = ("Resize", "Upsample", "Range", "CumSum", "TopK", "NonMaxSuppression", "RoiAlign", "RandomNormalLike")
FP16_MAX = float(np.finfo(np.float16).max)


def convert_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Mixed-precision FP16 copy of an fp32 graph.

    Every float tensor becomes float16 except the graph's input and output (Cast nodes at the
    edges), the L2 normalisation at the end (a float16 sum of squares overflows once the
    pre-normalisation embedding is large) and the few ops in FP32_OPS.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    name_nodes(graph)
    types = tensor_types(model)
    keep = set(normalisation_tail(graph)) | {node.name for node in graph.node if node.op_type in FP32_OPS}
    converter = _HalfConverter(graph, types, keep)
    converter.run()
    del graph.value_info[:]  # stale float types; shape inference recomputes them
    sort_topologically(graph)
    return model


def tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    values = list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    types = {value.name: value.type.tensor_type.elem_type for value in values}
    types.update({tensor.name: tensor.data_type for tensor in model.graph.initializer})
    return types


class _HalfConverter:
    """Rewrites one graph in place: float16 inside, Casts where float32 and float16 regions meet."""

    def __init__(self, graph: onnx.GraphProto, types: dict[str, int], keep: set[str]):
        self.graph, self.types, self.keep = graph, types, keep
        self.initializers = {tensor.name: tensor for tensor in graph.initializer}
        self.half: set[str] = set()          # tensors that now hold float16
        self.casts: dict[tuple[str, int], str] = {}
        self.new_nodes: list[onnx.NodeProto] = []

    def run(self) -> None:
        for node in list(self.graph.node):
            if node.name in self.keep:
                self._feed(node, FLOAT)
            else:
                self._to_half(node)
        self._restore_outputs()
        self.graph.node.extend(self.new_nodes)
        self._drop_unused_initializers()

    def _to_half(self, node: onnx.NodeProto) -> None:
        self._feed(node, HALF)
        for attribute in node.attribute:
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == FLOAT:
                attribute.i = HALF
            elif attribute.type == onnx.AttributeProto.TENSOR and attribute.t.data_type == FLOAT:
                attribute.t.CopyFrom(_half_tensor(attribute.t, attribute.t.name))
        for output in node.output:
            if self.types.get(output) == FLOAT:
                self.half.add(output)

    def _feed(self, node: onnx.NodeProto, dtype: int) -> None:
        """Point each float input of `node` at a version of the tensor in `dtype`."""
        for index, name in enumerate(node.input):
            if not name or self.types.get(name) not in (FLOAT, HALF):
                continue
            if name in self.initializers and dtype == HALF:
                node.input[index] = self._half_initializer(name)
            elif (name in self.half) != (dtype == HALF):
                node.input[index] = self._cast(name, dtype)

    def _half_initializer(self, name: str) -> str:
        half_name = f"{name}__fp16"
        if half_name not in self.initializers:
            tensor = _half_tensor(self.initializers[name], half_name)
            self.graph.initializer.append(tensor)
            self.initializers[half_name] = tensor
        return half_name

    def _cast(self, name: str, dtype: int) -> str:
        key = (name, dtype)
        if key not in self.casts:
            cast_name = f"{name}__{'fp16' if dtype == HALF else 'fp32'}"
            self.new_nodes.append(onnx.helper.make_node("Cast", [name], [cast_name], name=f"{cast_name}_cast", to=dtype))
            self.casts[key] = cast_name
            if dtype == HALF:
                self.half.add(cast_name)
        return self.casts[key]

    def _restore_outputs(self) -> None:
        """Graph outputs keep their float32 type and names: rename the float16 tensor and cast back."""
        for output in self.graph.output:
            if output.name not in self.half:
                continue
            inner = f"{output.name}__fp16_out"
            for node in list(self.graph.node) + self.new_nodes:
                node.input[:] = [inner if name == output.name else name for name in node.input]
                node.output[:] = [inner if name == output.name else name for name in node.output]
            self.new_nodes.append(onnx.helper.make_node("Cast", [inner], [output.name], name=f"{output.name}_cast", to=FLOAT))

    def _drop_unused_initializers(self) -> None:
        used = {name for node in self.graph.node for name in node.input}
        kept = [tensor for tensor in self.graph.initializer if tensor.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(kept)


def _half_tensor(tensor: onnx.TensorProto, name: str) -> onnx.TensorProto:
    values = np.clip(onnx.numpy_helper.to_array(tensor), -FP16_MAX, FP16_MAX).astype(np.float16)
    return onnx.numpy_helper.from_array(values, name)


# --------------------------------------------------------------------------- INT8


def quantize_int8(fp32_path: Path, out_path: Path, inputs: np.ndarray, input_name: str, target: str,
                  quantizer: str, float_below: int = NARROW_CHANNELS, validation: Validation | None = None) -> dict:
    """Write an INT8 Q/DQ copy of `fp32_path` calibrated on `inputs`; return what was done. `validation`: the
    triplets and budget of the accuracy-controlled quantizer (nncf-accuracy)."""
    if target not in INT8_TARGETS:
        raise ExportError(f"unknown INT8 target {target!r}; choose one of {', '.join(INT8_TARGETS)}")
    model = onnx.load(str(fp32_path))
    name_nodes(model.graph)
    if quantizer == "nncf-accuracy":
        return nncf_accuracy_int8(model, out_path, inputs, input_name, validation)
    if quantizer in NNCF_SETTINGS:
        return nncf_int8(model, out_path, inputs, input_name, quantizer, float_below)
    excluded = sensitive_nodes(model.graph, float_below)
    with tempfile.TemporaryDirectory(prefix=".fec-quant-", dir=out_path.parent) as scratch:
        named = Path(scratch) / "named.onnx"
        onnx.save_model(model, str(named))
        if target == "cpu" or quantizer == "onnxruntime":
            _ort_quantize(named, out_path, inputs, input_name, excluded, symmetric=target == "tensorrt")
            tool = "onnxruntime.quantization.quantize_static"
        else:
            _modelopt_quantize(named, out_path, inputs, input_name, excluded)
            tool = "modelopt.onnx.quantization.quantize"
    return {"target": target, "tool": tool, "calibration_faces": int(len(inputs)), "kept_in_float": excluded,
            "activations": "int8 symmetric" if target == "tensorrt" else "uint8 asymmetric",
            "weights": "int8 symmetric per-channel"}


def nncf_int8(model: onnx.ModelProto, out_path: Path, inputs: np.ndarray, input_name: str, setting: str,
              float_below: int) -> dict:
    """NNCF's post-training int8 (fec.export.nncf_quantizer) with fec's float islands, or as NNCF's default."""
    from fec.export.nncf_quantizer import nncf_float_nodes, quantize_with_nncf

    kept = nncf_float_nodes(model.graph, float_below) if setting == "nncf" else []
    with _quiet():
        quantized = quantize_with_nncf(model, inputs, input_name, kept)
    onnx.save_model(quantized, str(out_path))
    return {"target": "cpu", "tool": f"nncf.quantize ({setting})", "calibration_faces": int(len(inputs)),
            "kept_in_float": kept, "activations": "uint8/int8 as NNCF places them", "weights": "int8 per-channel"}


@dataclass(frozen=True)
class Validation:
    """What the accuracy-controlled quantizer validates on: triplets as the model takes them ((N, 3, ...)), the odd
    one of each, and the triplet accuracy points it may lose."""

    triplets: np.ndarray
    odd_index: np.ndarray
    max_drop: float


def nncf_accuracy_int8(model: onnx.ModelProto, out_path: Path, inputs: np.ndarray, input_name: str,
                       validation: Validation | None) -> dict:
    """NNCF's accuracy-controlled int8 (fec.export.nncf_quantizer), and which nodes it left float."""
    from fec.export.nncf_quantizer import quantize_with_accuracy_control

    if validation is None:
        raise ExportError("--quantizer nncf-accuracy validates on triplets: pass --calib-data TRAIN.csv")
    with _quiet():
        quantized = quantize_with_accuracy_control(model, inputs, input_name, validation.triplets,
                                                   validation.odd_index, validation.max_drop)
    onnx.save_model(quantized, str(out_path))
    quantized_inputs = {name for node in quantized.graph.node if node.op_type == "DequantizeLinear" for name in node.output}
    kept = [node.name for node in quantized.graph.node if node.op_type in LINEAR_OPS and not set(node.input) & quantized_inputs]
    return {"target": "cpu", "tool": "nncf.quantize_with_accuracy_control (triplet accuracy)",
            "calibration_faces": int(len(inputs)), "validation_triplets": int(len(validation.triplets)),
            "max_drop_points": validation.max_drop, "kept_in_float": kept,
            "activations": "uint8/int8 as NNCF places them", "weights": "int8 per-channel"}


def _ort_quantize(source: Path, out_path: Path, inputs: np.ndarray, input_name: str, excluded: list[str],
                  symmetric: bool) -> None:
    quantization = _import("onnxruntime.quantization", ONNXRUNTIME_HINT)

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.feeds = iter({input_name: batch} for batch in batches(inputs))

        def get_next(self):
            return next(self.feeds, None)

    extra = {"WeightSymmetric": True}
    if symmetric:  # TensorRT: int8 with zero points of 0, and float biases (it has no int32 DequantizeLinear)
        extra.update(ActivationSymmetric=True, QuantizeBias=False)
    with _quiet():
        quantization.quantize_static(
            str(source), str(out_path), Reader(), quant_format=quantization.QuantFormat.QDQ, per_channel=True,
            activation_type=quantization.QuantType.QInt8 if symmetric else quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8, nodes_to_exclude=excluded,
            calibrate_method=quantization.CalibrationMethod.MinMax, extra_options=extra)


def _modelopt_quantize(source: Path, out_path: Path, inputs: np.ndarray, input_name: str, excluded: list[str]) -> None:
    try:
        from modelopt.onnx.quantization import quantize
    except ImportError:
        raise MissingToolError(f"INT8 for TensorRT uses NVIDIA ModelOpt, which is not installed: {MODELOPT_HINT}") from None
    working = source.with_name("modelopt-input.onnx")
    shutil.copyfile(source, working)  # ModelOpt rewrites the file it is given
    quantize(onnx_path=str(working), quantize_mode=Precision.INT8.value, calibration_data={input_name: inputs},
             calibration_method="max", nodes_to_exclude=excluded, output_path=str(out_path))
