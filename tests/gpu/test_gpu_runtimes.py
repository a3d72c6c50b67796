"""Runners on a CUDA GPU: fp32 equals the CPU, autocast stays close, CUDA graphs equal eager, ONNX Runtime CUDA.

Marked `gpu`; skipped with the reason where there is no CUDA GPU (run: pytest -m gpu tests/gpu).
"""

from __future__ import annotations

import numpy as np
import pytest
from gpu_helpers import cosines, needs_cuda

from fec.runtimes import create_runner


def embed(checkpoint, batch, **options) -> np.ndarray:
    with create_runner("torch", checkpoint=checkpoint, **options) as runner:
        return runner.infer(batch)


def test_the_test_model_tells_faces_apart(gpu_checkpoint, faces):
    """Not a GPU test: without this, the cosine thresholds below would prove nothing."""
    embeddings = embed(gpu_checkpoint, faces)
    pairwise = embeddings @ embeddings.T
    assert pairwise[~np.eye(len(faces), dtype=bool)].min() < 0.9


# Measured on an H200 (2026-11-28): bf16 autocast gave min cos 0.976, mean ~0.996 over the 16 faces (bf16
# keeps 8 mantissa bits, fp16 11); fp32 differs from the CPU only by cuDNN's TF32 convolutions.
@needs_cuda
@pytest.mark.parametrize("precision, min_cos, mean_cos", [("fp32", 0.9999, 0.99999), ("fp16", 0.999, 0.9999),
                                                          ("bf16", 0.95, 0.99)])
def test_cuda_embeddings_match_the_cpu(gpu_checkpoint, faces, precision, min_cos, mean_cos):
    reference = embed(gpu_checkpoint, faces)
    on_gpu = embed(gpu_checkpoint, faces, device="cuda", precision=precision)

    assert on_gpu.dtype == np.float32 and on_gpu.shape == reference.shape
    similarity = cosines(on_gpu, reference)
    assert similarity.min() >= min_cos and similarity.mean() >= mean_cos, similarity


@pytest.fixture
def exact_fp32():
    """TF32 off: graph replay and eager may pick different cuDNN algorithms, which in TF32 differ by ~3e-3."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@needs_cuda
@pytest.mark.parametrize("precision, max_abs", [("fp32", 1e-4), ("fp16", 2e-3)])  # fp16: a few half-precision ulps
def test_cuda_graphs_replay_equals_eager_on_new_data(gpu_checkpoint, faces, precision, max_abs, exact_fp32):
    first, second = faces[:8], faces[8:16]
    eager = [embed(gpu_checkpoint, batch, device="cuda", precision=precision) for batch in (first, second)]
    with create_runner("torch", checkpoint=gpu_checkpoint, device="cuda", precision=precision, cuda_graphs=True) as runner:
        graphed = [runner.infer(first), runner.infer(second), runner.infer(first[:3])]
        assert sorted(runner.graphs) == [(3, 3, 64, 64), (8, 3, 64, 64)]  # one graph per batch shape

    assert np.abs(graphed[0] - eager[0]).max() <= max_abs
    assert np.abs(graphed[1] - eager[1]).max() <= max_abs      # the second batch went through the static input buffer
    assert np.abs(graphed[2] - eager[0][:3]).max() <= max_abs
    assert cosines(graphed[1], eager[1]).min() >= 0.99999 and np.abs(graphed[1] - graphed[0]).max() > 1e-3


@needs_cuda
def test_onnxruntime_cuda_provider_matches_the_cpu_provider(gpu_checkpoint, faces, tmp_path):
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip(f"onnxruntime {onnxruntime.__version__} has no CUDAExecutionProvider (a CPU build)")
    from fec.export import ExportRequest, export_model

    export_model(gpu_checkpoint, "onnx", ExportRequest(max_batch=32, opt_batch=8, exporter="legacy"), out=tmp_path / "onnx")
    model = tmp_path / "onnx" / "model.onnx"
    with create_runner("onnxruntime", model=model) as cpu, create_runner("onnxruntime", model=model, provider="cuda") as gpu:
        assert gpu.describe()["provider"] == "CUDAExecutionProvider"
        assert cosines(gpu.infer(faces), cpu.infer(faces)).min() >= 0.9999
