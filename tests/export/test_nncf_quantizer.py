"""int8 by NNCF (fec-export --quantizer nncf): a Q/DQ ONNX file that OpenVINO and ONNX Runtime both run, with fec's
float islands kept float; nncf-default is NNCF exactly as a user calls it (fec-deploy's peer row)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from fec.cli.export import main
from fec.export.nncf_quantizer import nncf_float_nodes
from fec.export.precision import normalisation_tail

pytest.importorskip("nncf", reason="NNCF is an optional extra (pip install nncf)")


def export(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    return result.exit_code, result.output


@pytest.mark.parametrize("setting", ["nncf", "nncf-default"])
def test_nncf_int8_is_a_qdq_onnx_file_both_cpu_runtimes_run(onnx_exports, trained, small_test_csv, tmp_path, setting):
    out = tmp_path / setting
    code, output = export(onnx_exports["fp32"] / "model.onnx", "--format", "onnx", "--precision", "int8", "--quantizer",
                          setting, "--calib-data", trained.train_csv, "--calib-size", "32", "--out", out)
    assert code == 0, output
    details = json.loads((out / "manifest.json").read_text())["details"]["int8"]
    graph = onnx.load(str(out / "model.onnx")).graph
    assert details["tool"] == f"nncf.quantize ({setting})" and details["calibration_faces"] == 32
    assert sum(node.op_type == "QuantizeLinear" for node in graph.node) > 10
    fp32_graph = onnx.load(str(onnx_exports["fp32"] / "model.onnx")).graph
    kept = details["kept_in_float"]
    assert kept == ([] if setting == "nncf-default" else nncf_float_nodes(fp32_graph, float_below=48))  # fec-export's default
    from fec.export.calibration import load_calibration_faces
    from fec.preprocessing import Preprocessing, normalize_uint8
    from fec.runtimes import create_runner

    prep = Preprocessing.from_dict(json.loads((out / "manifest.json").read_text())["preprocessing"], "manifest")
    faces = normalize_uint8(load_calibration_faces(small_test_csv, prep.input_size, 32, face_size=112), prep)
    with create_runner("onnxruntime", model=out / "model.onnx") as ort, create_runner("openvino", model=out / "model.onnx") as ov:
        by_ort, by_ov = ort.infer(faces), ov.infer(faces)
    # Both CPU runtimes run the one Q/DQ file. Its accuracy is fec-deploy's to judge on a trained model: this 4-step
    # model embeds every face alike, so its int8 cosines (to fp32, or between runtimes: 0.75 here) are noise.
    # fec's setting keeps the L2 normalisation float, so embeddings stay unit vectors; NNCF's default quantizes it too.
    for embeddings in (by_ort, by_ov):
        norms = np.linalg.norm(embeddings, axis=1)
        assert embeddings.shape == (32, 16) and np.isfinite(embeddings).all()
        assert np.allclose(norms, 1.0, atol=1e-3) == (setting == "nncf"), norms


def test_fecs_float_islands_are_the_standardisation_and_the_normalisation_tail(onnx_exports):
    graph = onnx.load(str(onnx_exports["fp32"] / "model.onnx")).graph
    standardisation = [node.name for node in graph.node if node.op_type == "InstanceNormalization"]
    assert nncf_float_nodes(graph) == standardisation + normalisation_tail(graph) and normalisation_tail(graph)
    widest = nncf_float_nodes(graph, float_below=48)
    assert len(widest) == len(nncf_float_nodes(graph)) + 1  # and ResNet18's 3-channel first convolution


def test_nncf_int8_is_for_cpus(onnx_exports, trained, tmp_path):
    code, output = export(onnx_exports["fp32"] / "model.onnx", "--format", "onnx", "--precision", "int8", "--quantizer",
                          "nncf", "--target", "tensorrt", "--calib-data", trained.train_csv, "--out", tmp_path / "x")
    assert code == 2 and output.strip().splitlines()[-1] == (
        "error: --quantizer nncf makes int8 for CPUs (OpenVINO, ONNX Runtime): use --target cpu")


def test_triplets_correct_is_the_tasks_metric_on_the_models_embeddings():
    """An identity model: the embeddings are the inputs, so which triplets are right is known by hand."""
    from onnx import TensorProto, helper

    from fec.export.nncf_quantizer import triplets_correct

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    near, far = [0.0, 0.0], [5.0, 0.0]
    triplets = np.array([[near, near, far], [near, far, near], [far, near, near], [near, near, far]], np.float32)
    odd = np.array([2, 1, 0, 0])  # the last names a close pair's face as odd: wrong
    assert triplets_correct(model, triplets, odd, "x", batch=2).tolist() == [True, True, True, False]


def test_nncf_accuracy_validates_on_triplets_of_the_calibration_csv(onnx_exports, trained, tmp_path):
    out = tmp_path / "accuracy"
    code, output = export(onnx_exports["fp32"] / "model.onnx", "--format", "onnx", "--precision", "int8", "--quantizer",
                          "nncf-accuracy", "--max-drop", "1.5", "--calib-data", trained.train_csv, "--calib-size", "32",
                          "--out", out, "--quiet")
    assert code == 0, output
    details = json.loads((out / "manifest.json").read_text())["details"]["int8"]
    assert details["tool"] == "nncf.quantize_with_accuracy_control (triplet accuracy)"
    rows = len(trained.train_csv.read_text().splitlines())  # one triplet per row, every face in the store
    assert details["validation_triplets"] == min(600, rows)
    assert (details["max_drop_points"], details["calibration_faces"]) == (1.5, 32)
    graph = onnx.load(str(out / "model.onnx")).graph
    assert sum(node.op_type == "QuantizeLinear" for node in graph.node) > 0
    assert set(details["kept_in_float"]) <= {node.name for node in graph.node}


def test_nncf_accuracy_refuses_a_budget_outside_0_to_100_points(onnx_exports, trained, tmp_path):
    code, output = export(onnx_exports["fp32"] / "model.onnx", "--format", "onnx", "--precision", "int8", "--quantizer",
                          "nncf-accuracy", "--max-drop", "-1", "--calib-data", trained.train_csv, "--out", tmp_path / "x")
    assert code == 2 and output.strip().splitlines()[-1] == (
        "error: --max-drop must be between 0 and 100 accuracy points, got -1.0")
