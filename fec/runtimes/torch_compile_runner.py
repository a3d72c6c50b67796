"""torch.compile runner: the checkpoint's model compiled (static shapes), otherwise the torch runner.

Compilation happens lazily on the first `infer` of each batch shape (dynamic=False: one graph per
shape, as a deployed model sees). Benchmarks therefore prime and warm up before timing, so the
compile is never in a measured latency.

    runner = create_runner("torch_compile", checkpoint="run/last.pt", mode="max-autotune")
"""

from __future__ import annotations

from pathlib import Path

import torch

from fec.runtimes.base import RunnerError, register_runner
from fec.runtimes.torch_runner import TorchRunner
from fec.vocabulary import Precision

MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@register_runner("torch_compile")
class TorchCompileRunner(TorchRunner):
    name = "torch_compile"

    def __init__(self, checkpoint: str | Path, device: str = "cpu", precision: str = Precision.FP32, model=None,
                 mode: str = "default", compile_backend: str = "inductor"):
        super().__init__(checkpoint, device, precision, model)
        if mode not in MODES:
            raise RunnerError(f"torch_compile: mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode, self.compile_backend = mode, compile_backend
        self.eager_model = None

    def activate(self) -> None:
        super().activate()
        self.eager_model = self.model
        self.model = torch.compile(self.eager_model, dynamic=False, mode=self.mode, backend=self.compile_backend)

    def deactivate(self) -> None:
        if self.eager_model is not None:
            self.model, self.eager_model = self.eager_model, None

    def describe(self) -> dict:
        return {**super().describe(), "compile_mode": self.mode, "compile_backend": self.compile_backend}
