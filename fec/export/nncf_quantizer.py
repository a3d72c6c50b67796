"""int8 with NNCF, OpenVINO's post-training quantizer, on fec's fp32 ONNX file. NNCF's ONNX backend writes a Q/DQ
ONNX file like every other int8 export, so OpenVINO and ONNX Runtime both run it and fec-verify checks it.

Two settings (fec-export --quantizer):
- `nncf`: NNCF's defaults with fec's float islands: the per-image input standardisation and the L2 normalisation
  tail. Left to itself NNCF also quantizes the 16-d embedding just before it is normalised, which cost 1.8-1.9
  held-out points on the demo model and a ResNet18 (AMD EPYC Zen 3, AVX2, 2026-12-07); with those float, -0.3 to
  +0.9 points at the same speed. Convolutions narrower than --float-below stay float too (0: none).
- `nncf-default`: `nncf.quantize(model, dataset)` and nothing else, what an OpenVINO user writes: fec-deploy's
  reference row (the peer its choice is compared with).
- `nncf-accuracy`: `nncf.quantize_with_accuracy_control`, whose validation function is the task's own metric
  (triplet accuracy on triplets of the calibration CSV) and whose `max_drop` is --max-drop: NNCF quantizes as by
  default, then reverts to float the layers it ranks most harmful until the drop is within budget. It measures
  which layers matter where `nncf` and --float-below decide by rule.

NNCF is an optional extra (`pip install 'fec[nncf]'`); it installs beside OpenVINO without touching torch.
"""

from __future__ import annotations

import numpy as np
import onnx

from fec.export.errors import MissingToolError

INSTALL_HINT = "pip install nncf (or pip install 'fec[nncf]')"


def nncf_float_nodes(graph: onnx.GraphProto, float_below: int = 0) -> list[str]:
    """The nodes fec keeps float under NNCF: the input standardisation, the L2 normalisation tail, and the
    convolutions narrower than `float_below` channels."""
    from fec.export.precision import conv_width, normalisation_tail

    weights = {tensor.name: tensor.dims for tensor in graph.initializer}
    standardisation = [node.name for node in graph.node if node.op_type == "InstanceNormalization"]
    narrow = [node.name for node in graph.node if node.op_type == "Conv" and conv_width(node, weights) < float_below]
    return standardisation + normalisation_tail(graph) + narrow


def quantize_with_nncf(model: onnx.ModelProto, inputs: np.ndarray, input_name: str, kept_float: list[str]) -> onnx.ModelProto:
    """The model quantized by NNCF on `inputs` (calibration faces, one per item, normalised as the model takes
    them), `kept_float` nodes left alone."""
    nncf = import_nncf()
    options = {"subset_size": len(inputs)}
    if kept_float:
        options["ignored_scope"] = nncf.IgnoredScope(names=kept_float, validate=False)
    return nncf.quantize(model, calibration_dataset(nncf, inputs, input_name), **options)


def quantize_with_accuracy_control(model: onnx.ModelProto, inputs: np.ndarray, input_name: str, triplets: np.ndarray,
                                   odd_index: np.ndarray, max_drop_points: float) -> onnx.ModelProto:
    """NNCF's accuracy-controlled int8 on `inputs` (calibration faces), validated on `triplets` ((N, 3, ...) faces as
    the model takes them, `odd_index` the odd one of each): at most `max_drop_points` of triplet accuracy lost."""
    nncf = import_nncf()

    def validate(candidate: onnx.ModelProto, items) -> tuple[float, list[float]]:
        """Triplet accuracy of `candidate` on the triplets `items` names, and each one's 1 (right) or 0."""
        chosen = np.fromiter(items, dtype=np.int64)
        correct = triplets_correct(candidate, triplets[chosen], odd_index[chosen], input_name)
        return float(correct.mean()), correct.astype(float).tolist()

    return nncf.quantize_with_accuracy_control(
        model, calibration_dataset(nncf, inputs, input_name), nncf.Dataset(list(range(len(triplets)))), validate,
        max_drop=max_drop_points / 100.0, subset_size=len(inputs))


def calibration_dataset(nncf, inputs: np.ndarray, input_name: str):
    """NNCF's view of the calibration faces: one face per item, fed to the graph's input."""
    return nncf.Dataset([inputs[index:index + 1] for index in range(len(inputs))], lambda face: {input_name: face})


def triplets_correct(model: onnx.ModelProto, triplets: np.ndarray, odd_index: np.ndarray, input_name: str,
                     batch: int = 96) -> np.ndarray:
    """Boolean (N,): each triplet's similar pair is the closest of its three under `model` (ONNX Runtime, CPU)."""
    import onnxruntime
    import torch

    from fec.metrics import correct_predictions, pair_distances

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    faces = triplets.reshape(-1, *triplets.shape[2:])
    embedded = np.concatenate([session.run(None, {input_name: faces[start:start + batch]})[0]
                               for start in range(0, len(faces), batch)])
    distances = pair_distances(torch.from_numpy(embedded.reshape(len(triplets), 3, -1)))
    return correct_predictions(distances, torch.from_numpy(odd_index)).numpy()


def import_nncf():
    try:
        import nncf
    except ImportError:
        raise MissingToolError(f"nncf is not installed; {INSTALL_HINT}") from None
    return nncf
