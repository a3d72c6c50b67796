"""CUDA for benchmarks, through PyTorch: synchronise the device around timed iterations, peak memory per row.

Only runners that say they compute on a CUDA device (`Runner.cuda_device`) get a probe. Peak memory
is `torch.cuda.max_memory_allocated`, reset before each row: it sees what PyTorch's allocator hands
out (the torch backends' weights and activations), not ONNX Runtime's or TensorRT's own allocations,
so it is reported only for runners whose memory PyTorch allocates (`Runner.cuda_memory_tracked`).
"""

from __future__ import annotations

from fec.runtimes.base import Runner

MIB = float(1 << 20)


class CudaProbe:
    """Synchronise one device and read its peak allocated memory (MiB) since the last reset."""

    def __init__(self, device: int, tracks_memory: bool):
        import torch

        self.cuda, self.device, self.tracks_memory = torch.cuda, device, tracks_memory

    def synchronize(self) -> None:
        self.cuda.synchronize(self.device)

    def reset_peak(self) -> None:
        self.cuda.synchronize(self.device)
        self.cuda.reset_peak_memory_stats(self.device)

    def peak_mb(self) -> float | None:
        return self.cuda.max_memory_allocated(self.device) / MIB if self.tracks_memory else None


def cuda_probe(runner: Runner) -> CudaProbe | None:
    """A probe for a runner that computes on a CUDA device, None for host-only runners."""
    if runner.cuda_device is None:
        return None
    return CudaProbe(runner.cuda_device, runner.cuda_memory_tracked)
