"""int8 with NNCF, OpenVINO's post-training quantizer, on fec's fp32 ONNX file. NNCF's ONNX backend writes a Q/DQ
ONNX file like every other int8 export, so OpenVINO and ONNX Runtime both run it and fec-verify checks it.

Two settings (fec-export --quantizer):
- `nncf`: NNCF's defaults with fec's float islands: the per-image input standardisation and the L2 normalisation
  tail. Left to itself NNCF also quantizes the 16-d embedding just before it is normalised, which cost 1.8-1.9
  held-out points on the demo model and a ResNet18 (AMD EPYC Zen 3, AVX2, 2026-12-07); with those float, -0.3 to
  +0.9 points at the same speed. Convolutions narrower than --float-below stay float too (0: none).
- `nncf-default`: `nncf.quantize(model, dataset)` and nothing else, what an OpenVINO user writes: fec-deploy's
  reference row (the peer its choice is compared with).

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
    dataset = nncf.Dataset([inputs[index:index + 1] for index in range(len(inputs))], lambda face: {input_name: face})
    options = {"subset_size": len(inputs)}
    if kept_float:
        options["ignored_scope"] = nncf.IgnoredScope(names=kept_float, validate=False)
    return nncf.quantize(model, dataset, **options)


def import_nncf():
    try:
        import nncf
    except ImportError:
        raise MissingToolError(f"nncf is not installed; {INSTALL_HINT}") from None
    return nncf
