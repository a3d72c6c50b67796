"""The torch runner on the CPU: outputs equal the model's; CUDA-only options fail in one line where there is no GPU.

Its CUDA paths (fp16/bf16 autocast, CUDA graphs) are checked on a GPU in tests/gpu.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fec.runtimes import create_runner
from fec.runtimes.base import RunnerError
from tests.helpers import tiny_torch_model as tiny_model


def test_cpu_runner_returns_the_models_embeddings_and_says_it_is_host_only():
    model = tiny_model()
    batch = np.random.default_rng(0).standard_normal((3, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()

    with create_runner("torch", checkpoint="unused.pt", model=model) as runner:
        np.testing.assert_allclose(runner.infer(batch), expected, atol=1e-6)
        assert runner.describe() == {"runner": "torch", "device": "cpu", "precision": "fp32", "cuda_graphs": False}
    assert runner.cuda_device is None and runner.cuda_memory_tracked is False


def test_cuda_runners_declare_their_device_for_synchronisation_and_memory():
    runner = create_runner("torch", checkpoint="unused.pt", device="cuda:1", model=tiny_model())
    assert (runner.cuda_device, runner.cuda_memory_tracked) == (1, True)
    assert create_runner("torch", checkpoint="unused.pt", device="cuda").cuda_device == 0


def test_cuda_graphs_on_the_cpu_are_refused_in_one_line():
    with pytest.raises(RunnerError, match=r"^torch: CUDA graphs need a CUDA device \(device='cuda'\), got 'cpu'$"):
        create_runner("torch", checkpoint="unused.pt", cuda_graphs=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where there is no GPU")
def test_cuda_without_a_gpu_is_a_runner_error_on_activate():
    runner = create_runner("torch", checkpoint="unused.pt", device="cuda", model=tiny_model())
    with pytest.raises(RunnerError, match=r"device 'cuda' asked for, but no CUDA GPU is visible here"):
        runner.activate()


@pytest.mark.parametrize("options, message", [
    ({"precision": "int8"}, "precision must be one of fp32, fp16, bf16, got 'int8'"),
    ({"device": "gpu"}, "unknown device 'gpu'"),
])
def test_bad_options_are_runner_errors(options, message):
    with pytest.raises(RunnerError, match=message):
        create_runner("torch", checkpoint="unused.pt", **options)
