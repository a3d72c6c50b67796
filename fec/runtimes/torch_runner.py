"""PyTorch eager runner: the reference every export is checked against.

fp32, or bf16/fp16 autocast (meant for GPUs: on this project's AVX2 CPU bf16 is ~10x slower). On
CUDA, `cuda_graphs=True` captures one CUDA graph per batch shape, with a static input and output
buffer on the device, and replays it: every call then costs one host-to-device copy, one graph
launch and one copy back, with no per-layer launch overhead. CUDA graphs need a CUDA device; asking
for them on the CPU is a RunnerError.

`infer` returns host (numpy) embeddings, so it waits for the device anyway; benchmarks also
synchronise `cuda_device` around each timed call (fec.bench.cuda).

    runner = create_runner("torch", checkpoint="run/last.pt", device="cuda", precision="fp16", cuda_graphs=True)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fec.runtimes.base import Runner, RunnerError, register_runner
from fec.vocabulary import Precision

AUTOCAST = {Precision.FP32: None, Precision.FP16: torch.float16, Precision.BF16: torch.bfloat16}
GRAPH_WARMUP_ITERS = 3  # eager runs on a side stream before capture (cuDNN picks its kernels, lazy init)


@register_runner("torch")
class TorchRunner(Runner):
    name = "torch"

    def __init__(self, checkpoint: str | Path, device: str = "cpu", precision: str = Precision.FP32, model=None,
                 cuda_graphs: bool = False):
        if precision not in AUTOCAST:
            raise RunnerError(f"{self.name}: precision must be one of {', '.join(AUTOCAST)}, got {precision!r}")
        self.checkpoint, self.precision = Path(checkpoint), precision
        try:
            self.device = torch.device(device)
        except RuntimeError:
            raise RunnerError(f"{self.name}: unknown device {device!r} (cpu, cuda, cuda:1 ...)") from None
        if cuda_graphs and self.device.type != "cuda":
            raise RunnerError(f"{self.name}: CUDA graphs need a CUDA device (device='cuda'), got {device!r}")
        self.model, self.cuda_graphs = model, cuda_graphs
        self.graphs: dict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}
        if self.device.type == "cuda":
            self.cuda_device = self.device.index or 0
            self.cuda_memory_tracked = True

    def activate(self) -> None:
        from fec.models.checkpoint import model_from_checkpoint

        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RunnerError(f"{self.name}: device {str(self.device)!r} asked for, but no CUDA GPU is visible here "
                              "(torch.cuda.is_available() is False)")
        if self.model is None:
            self.model, prep, _ = model_from_checkpoint(self.checkpoint)
            self.input_size = prep.input_size
        self.model.to(self.device).eval()

    def deactivate(self) -> None:
        self.graphs.clear()

    def describe(self) -> dict:
        return {"runner": self.name, "device": str(self.device), "precision": self.precision,
                "cuda_graphs": self.cuda_graphs}

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        dtype = AUTOCAST[self.precision]
        # no autocast weight cache: each weight is cast once per forward anyway, and a graph must record the casts
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None, cache_enabled=False):
            return self.model(images).float()

    @torch.inference_mode()
    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        if self.cuda_graphs:
            return self._replay(batch)
        return self._forward(torch.from_numpy(batch).to(self.device)).cpu().numpy()

    # ---- CUDA graphs ----------------------------------------------------------------------
    def _replay(self, batch: np.ndarray) -> np.ndarray:
        # capture and replay on the runner's GPU: both use the current device's streams (cuda:1 is not the default)
        with torch.cuda.device(self.device):
            graph, static_input, static_output = self.graphs.get(batch.shape) or self._capture(batch)
            static_input.copy_(torch.from_numpy(batch))
            graph.replay()
            return static_output.cpu().numpy()

    def _capture(self, batch: np.ndarray):
        """Warm up on a side stream, then capture one forward pass on static buffers (PyTorch's recipe)."""
        static_input = torch.from_numpy(batch).to(self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(GRAPH_WARMUP_ITERS):
                self._forward(static_input)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=side):
            static_output = self._forward(static_input)
        self.graphs[batch.shape] = (graph, static_input, static_output)
        return self.graphs[batch.shape]
