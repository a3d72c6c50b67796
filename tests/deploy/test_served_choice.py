"""Which candidate becomes the Triton repository: the choice at the largest batch, or the next fastest when
the choice (PyTorch) is no Triton model; the embedding kind follows --serve-with."""

from __future__ import annotations

from fec.deploy.deployment import servable_kind, served_candidate
from fec.deploy.select import Measured, Timing, choose_per_batch


def timed(name: str, p50_at_32: float) -> Measured:
    backend, export = name.split("/")
    return Measured(name, backend, export, "fp32", delta_pt=0.0, flips=0.0, min_cos=1.0, nonfinite=0,
                    timings={32: {"compute": Timing(p50_at_32, p50_at_32, 32 / p50_at_32, 0.0)}})


def test_pytorch_winning_serves_the_fastest_export_and_says_why():
    measured = [timed("torch/checkpoint", 3.0), timed("openvino/onnx-fp32", 5.0), timed("onnxruntime/onnx-fp32", 4.0)]
    decision = choose_per_batch(measured, 32, 0.5, "compute")
    chosen, why = served_candidate(measured, [decision], None, "native", "compute")
    assert decision.chosen == "torch/checkpoint" and chosen.name == "onnxruntime/onnx-fp32"
    assert why == "the choice at batch 32 (torch/checkpoint) is no Triton model; the next fastest"


def test_the_kind_follows_serve_with():
    assert (servable_kind("onnxruntime", "native"), servable_kind("onnxruntime", "python")) == ("onnx", "ort-python")
    assert (servable_kind("openvino-bf16", "native"), servable_kind("openvino", "python")) == ("openvino", "ov-python")
    # Triton's OpenVINO backend cannot pin f32 (it would run bf16 on CPUs with native bf16): f32 OpenVINO on python
    assert servable_kind("openvino", "native") == "ov-python"
    assert servable_kind("tensorrt", "python") is None and servable_kind("torch", "native") is None


def test_every_servable_backend_names_real_embedding_kinds_and_repository_options():
    """A backend's record names Triton embedding kinds and fec-triton options, which live a layer above it: a
    renamed kind or option would otherwise make the chosen candidate fail to package without a word."""
    from dataclasses import fields

    from fec.deploy.candidates import deploy_backends
    from fec.runtimes.backends import get_backend
    from fec.runtimes.triton_client import EMBEDDING_KINDS
    from fec.triton.repository import RepositoryOptions

    option_names = {field.name for field in fields(RepositoryOptions)}
    for name in deploy_backends():
        serving = get_backend(name).serving
        if get_backend(name).kind == "checkpoint":
            assert serving is None, name  # PyTorch is a candidate, not a Triton model
            continue
        assert serving.native in EMBEDDING_KINDS and serving.python in (*EMBEDDING_KINDS, None), name
        assert set(serving.options) <= option_names, name
