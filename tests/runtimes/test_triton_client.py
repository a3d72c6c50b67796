"""The names fec-triton gives a repository's models, shared by the repository writer, the runner and fec-bench."""

from __future__ import annotations

import pytest

from fec.runtimes.triton_client import EMBEDDING_KINDS, PREPROCESS_KIND, ensemble_name, model_name


def test_every_model_is_named_after_its_ensemble():
    assert [model_name("fecnet", kind) for kind in (*EMBEDDING_KINDS, PREPROCESS_KIND)] == [
        "fecnet_trt", "fecnet_onnx", "fecnet_openvino", "fecnet_ort_python", "fecnet_ov_python", "fecnet_preprocess"]


@pytest.mark.parametrize("model, ensemble", [
    ("fecnet_onnx", "fecnet"), ("my-net_ort_python", "my-net"), ("a_trt", "a"), ("fecnet_ov_python", "fecnet"),
    ("fecnet_openvino", "fecnet"),
    ("fecnet", None), ("_onnx", None), ("fecnet_preprocess", None),
])
def test_an_embedding_model_names_its_ensemble(model, ensemble):
    assert ensemble_name(model) == ensemble


def test_the_photo_model_is_named_after_its_ensemble_and_is_no_embedding_model():
    from fec.runtimes.triton_client import PHOTO_KIND, PHOTO_OUTPUTS

    assert model_name("fecnet", PHOTO_KIND) == "fecnet_photo" and ensemble_name("fecnet_photo") is None
    assert PHOTO_OUTPUTS == ("boxes", "scores", "landmarks", "embeddings", "left_out")
