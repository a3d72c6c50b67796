"""FP16 and INT8 graphs: what stays float32, what is quantized and how, and what the tools need."""

from __future__ import annotations

import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from export_fixtures import CALIBRATION_FACES, manifest
from onnx import TensorProto, helper, numpy_helper

from fec.export import ExportRequest, MissingToolError, export_model
from fec.export.precision import convert_fp16, normalisation_tail, sensitive_nodes


def initializer_types(proto: onnx.ModelProto) -> dict[str, int]:
    return {tensor.name: tensor.data_type for tensor in proto.graph.initializer}


def value_types(proto: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(proto)
    values = list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    return {value.name: value.type.tensor_type.elem_type for value in values} | initializer_types(proto)


def test_fp16_export_keeps_float32_io_and_normalisation_and_halves_the_weights(onnx_exports):
    fp32 = onnx.load(str(onnx_exports["fp32"] / "model.onnx"))
    fp16 = onnx.load(str(onnx_exports["fp16"] / "model.onnx"))
    types = value_types(fp16)
    by_op = {node.op_type: node for node in fp16.graph.node}

    assert [value.type.tensor_type.elem_type for value in (*fp16.graph.input, *fp16.graph.output)] == [TensorProto.FLOAT] * 2
    assert types[by_op["ReduceL2"].input[0]] == TensorProto.FLOAT  # the L2 normalisation runs in float32
    assert types[by_op["Gemm"].output[0]] == TensorProto.FLOAT16
    assert sum(node.op_type == "Cast" for node in fp16.graph.node) == 2  # one in, one before the normalisation
    float_weights = {name for name, kind in initializer_types(fp16).items() if kind == TensorProto.FLOAT}
    tail = set(normalisation_tail(fp16.graph))
    assert float_weights and all(node.name in tail for node in fp16.graph.node if float_weights & set(node.input))
    sources = [manifest(onnx_exports[precision])["source"]["checkpoint_sha256"] for precision in ("fp32", "fp16")]
    assert sources[0] == sources[1]
    assert (onnx_exports["fp16"] / "model.onnx").stat().st_size < 0.6 * (onnx_exports["fp32"] / "model.onnx").stat().st_size
    assert len(fp16.graph.node) == len(fp32.graph.node) + 2


def test_fp16_conversion_survives_embeddings_whose_squares_overflow_float16():
    """Pre-normalisation values of ~2000 square to 4e6, beyond float16's 65504: the tail must stay float32."""
    weight = numpy_helper.from_array(np.full((4, 16), 500.0, np.float32), "weight")
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["images", "weight"], ["raw"], name="head"),
         helper.make_node("ReduceL2", ["raw", "axes"], ["norm"], name="norm", keepdims=1),
         helper.make_node("Div", ["raw", "norm"], ["embeddings"], name="normalise")],
        "tail", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", 16])], [weight, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    converted = convert_fp16(model)
    onnx.checker.check_model(converted, full_check=True)

    session = ort.InferenceSession(converted.SerializeToString(), providers=["CPUExecutionProvider"])
    embeddings = session.run(None, {"images": np.ones((2, 4), np.float32)})[0]

    np.testing.assert_allclose(embeddings, np.full((2, 16), 0.25), atol=1e-3)


def test_int8_for_cpu_is_uint8_activation_qdq_with_per_channel_int8_weights(onnx_exports):
    fp32 = onnx.load(str(onnx_exports["fp32"] / "model.onnx"))
    int8 = onnx.load(str(onnx_exports["int8"] / "model.onnx"))
    record = manifest(onnx_exports["int8"])
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in int8.graph.initializer}
    quantize = [node for node in int8.graph.node if node.op_type == "QuantizeLinear"]
    weight_dq = [node for node in int8.graph.node if node.op_type == "DequantizeLinear" and node.input[0] in constants
                 and constants[node.input[0]].ndim == 4]

    assert quantize and weight_dq
    assert {constants[node.input[2]].dtype for node in quantize} == {np.dtype(np.uint8)}
    assert {constants[node.input[0]].dtype for node in weight_dq} == {np.dtype(np.int8)}
    assert all(constants[node.input[1]].ndim == 1 and constants[node.input[1]].size > 1 for node in weight_dq)  # per channel
    kept = sensitive_nodes(fp32.graph)
    assert record["details"]["int8"]["kept_in_float"] == kept
    assert {node.name for node in fp32.graph.node if node.op_type == "Gemm"} <= set(kept)
    gemm_inputs = {name for node in int8.graph.node if node.op_type == "Gemm" for name in node.input}
    dequantized = {node.output[0] for node in int8.graph.node if node.op_type == "DequantizeLinear"}
    assert not gemm_inputs & dequantized  # the head's fully connected layers stayed float
    assert (record["int8_target"], record["details"]["int8"]["calibration_faces"]) == ("cpu", CALIBRATION_FACES)


def test_int8_for_tensorrt_is_symmetric_signed_qdq_with_zero_points_of_zero(onnx_exports, trained, tmp_path):
    request = ExportRequest(precision="int8", target="tensorrt", quantizer="onnxruntime", calib_data=trained.train_csv,
                            calib_size=64)
    result = export_model(onnx_exports["fp32"] / "model.onnx", "onnx", request, out=tmp_path / "int8-trt")
    proto = onnx.load(str(result.folder / "model.onnx"))
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in proto.graph.initializer}
    zero_points = [constants[node.input[2]] for node in proto.graph.node
                   if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2]

    assert zero_points and {point.dtype for point in zero_points} == {np.dtype(np.int8)}
    assert all(not point.any() for point in zero_points)
    assert (result.manifest["int8_target"], result.folder.name) == ("tensorrt", "int8-trt")


def test_int8_for_tensorrt_without_modelopt_says_how_to_get_it(onnx_exports, trained, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "modelopt", None)  # as if not installed
    request = ExportRequest(precision="int8", target="tensorrt", calib_data=trained.train_csv, calib_size=32)

    with pytest.raises(MissingToolError, match=r"ModelOpt, which is not installed: pip install 'nvidia-modelopt\[onnx\]' "
                                               r"in a separate environment.*--quantizer onnxruntime"):
        export_model(onnx_exports["fp32"] / "model.onnx", "onnx", request, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_float_below_sets_which_convolutions_stay_float(onnx_exports):
    graph = onnx.load(str(onnx_exports["fp32"] / "model.onnx")).graph
    from fec.export.precision import name_nodes

    name_nodes(graph)
    convs = [node.name for node in graph.node if node.op_type == "Conv"]
    head = sensitive_nodes(graph, float_below=0)

    assert head and not set(head) & set(convs)                                # the head only
    assert set(sensitive_nodes(graph, float_below=48)) - set(head) == {convs[0]}  # ResNet18: 3 -> 64 stem
    assert set(sensitive_nodes(graph, float_below=10**6)) - set(head) == set(convs)


def test_negative_float_below_is_a_user_error():
    with pytest.raises(Exception, match="--float-below must be 0 or more channels, got -1"):
        ExportRequest(precision="int8", float_below=-1).validate()
