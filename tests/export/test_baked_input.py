"""The normalisation baked in front of an exported graph (fec.export.baked_input): the same embeddings, bit for bit,
from uint8 faces."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from fec.artifacts import UINT8_NHWC
from fec.export.baked_input import with_baked_normalisation
from fec.export.manifest import read_manifest
from fec.preprocessing import Preprocessing, normalize_uint8
from fec.runtimes.onnxruntime_runner import OnnxRuntimeRunner


def runner(path) -> OnnxRuntimeRunner:
    model = OnnxRuntimeRunner(path, threads=1)
    model.activate()
    return model


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_baked_graph_gives_the_same_embeddings_bit_for_bit_from_uint8_faces(onnx_exports, tmp_path, precision):
    folder = onnx_exports[precision]
    prep = Preprocessing.from_dict(read_manifest(folder)["preprocessing"])
    baked = with_baked_normalisation(onnx.load(str(folder / "model.onnx")), prep)
    onnx.save(baked, str(tmp_path / "baked.onnx"))
    faces = np.random.default_rng(0).integers(0, 256, (5, prep.input_size, prep.input_size, 3), dtype=np.uint8)
    original, fed_uint8 = runner(folder / "model.onnx"), runner(tmp_path / "baked.onnx")
    assert fed_uint8.input_format == UINT8_NHWC and fed_uint8.input_size == prep.input_size
    assert np.array_equal(fed_uint8.infer(faces), original.infer(normalize_uint8(faces, prep)))
    assert {entry.key: entry.value for entry in baked.metadata_props}["fec.input_format"] == UINT8_NHWC
    (pictures,) = baked.graph.input
    assert pictures.type.tensor_type.elem_type == TensorProto.UINT8
    assert [dim.dim_value for dim in pictures.type.tensor_type.shape.dim][1:] == [prep.input_size, prep.input_size, 3]


def test_a_graph_that_takes_no_float_nchw_faces_is_left_alone():
    def model(inputs):
        node = helper.make_node("Identity", [inputs[0].name], ["out"])
        graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
        return helper.make_model(graph)

    uint8 = helper.make_tensor_value_info("faces", TensorProto.UINT8, ["n", 32, 32, 3])
    nhwc = helper.make_tensor_value_info("faces", TensorProto.FLOAT, ["n", 32, 32, 3])
    two = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", 3, 32, 32]) for name in ("a", "b")]
    assert all(with_baked_normalisation(model(inputs), Preprocessing(32)) is None for inputs in ([uint8], [nhwc], two))
