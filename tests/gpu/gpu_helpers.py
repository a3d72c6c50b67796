"""Helpers of the GPU tests (imported by module name: pytest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

CUDA_REASON = "needs a CUDA GPU (torch.cuda.is_available() is False here)"


def needs_cuda(test):
    """Mark a test `gpu` and skip it, saying why, where there is no CUDA GPU."""
    return pytest.mark.gpu(pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_REASON)(test))


def face_batch(checkpoint: Path, data: Path, count: int) -> np.ndarray:
    """`count` real faces of the synthetic test set, normalised for the checkpoint's model (float NCHW)."""
    from fec.bench.inputs import input_batch, load_faces
    from fec.bench.targets import resolve_target

    target = resolve_target(checkpoint)
    return input_batch(load_faces(data, target, count), count, target.prep, uint8_input=False)


def cosines(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    left = left / np.linalg.norm(left, axis=1, keepdims=True)
    right = right / np.linalg.norm(right, axis=1, keepdims=True)
    return (left * right).sum(axis=1)
