"""PyTorch eager runner (fp32, or bf16/fp16 autocast on GPU): the reference every export is checked against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fec.runtimes.base import Runner, RunnerError, register_runner

AUTOCAST = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


@register_runner("torch")
class TorchRunner(Runner):
    name = "torch"

    def __init__(self, checkpoint: str | Path, device: str = "cpu", precision: str = "fp32", model=None):
        if precision not in AUTOCAST:
            raise RunnerError(f"torch: precision must be one of {', '.join(AUTOCAST)}, got {precision!r}")
        self.checkpoint, self.precision = Path(checkpoint), precision
        self.device = torch.device(device)
        self.model = model
        if self.device.type == "cuda":
            self.cuda_device = self.device.index or 0
            self.cuda_memory_tracked = True

    def activate(self) -> None:
        from fec.train.checkpoint import model_from_checkpoint

        if self.model is None:
            self.model, prep, _ = model_from_checkpoint(self.checkpoint)
            self.input_size = prep.input_size
        self.model.to(self.device).eval()

    def describe(self) -> dict:
        return {"runner": self.name, "device": str(self.device), "precision": self.precision}

    @torch.inference_mode()
    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        dtype = AUTOCAST[self.precision]
        images = torch.from_numpy(batch).to(self.device)
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            return self.model(images).float().cpu().numpy()
