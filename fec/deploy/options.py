"""What fec-deploy tries and how it judges, in one light class: the command reads its option defaults from here
(so `--help` loads no torch), and the library validates them with the command's flag names."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fec.artifacts import MAX_BATCH
from fec.bench.measure import COMPUTE, MODES, MeasureSettings
from fec.errors import DeployError
from fec.export.registry import NARROW_CHANNELS
from fec.vocabulary import Precision

MAX_PASSES = 100                                 # timing passes: each times every candidate again
DEFAULT_FLOAT_BELOW = (NARROW_CHANNELS, 16, 0)   # int8: convolutions narrower than this many channels stay float


@dataclass(frozen=True, kw_only=True)
class DeployOptions:
    """What to try and how to judge it."""

    data: Path                                   # held-out triplets (a CSV, or a folder with test.csv)
    out: Path = Path("export/deploy")             # exports/, decision.{json,md,png}, triton_repo/
    batches: tuple[int, ...] = (1, 32)
    max_drop: float = 0.5                        # accuracy points a candidate may lose against PyTorch
    latency_budget_ms: float | None = None
    calib_data: Path | None = None               # int8 calibration faces (default: train.csv beside the test CSV)
    calib_size: int = 256
    precisions: tuple[str, ...] = tuple(Precision)
    backends: tuple[str, ...] | None = None
    float_below: tuple[int, ...] = DEFAULT_FLOAT_BELOW
    settings: MeasureSettings = field(default_factory=MeasureSettings)
    threads: int | None = None
    modes: tuple[str, ...] = MODES
    rank_by: str = COMPUTE
    passes: int = 2                              # timing passes over all candidates (every other one reversed)
    progress: Callable[[str], None] | None = None

    def say(self, message: str) -> None:
        if self.progress:
            self.progress(message)

    def validate(self) -> None:
        """DeployError naming the first impossible option (by its fec-deploy flag), for library callers too."""
        unknown = sorted(set(self.precisions) - set(Precision))
        problems = [
            (self.rank_by not in self.modes, f"--rank-by {self.rank_by} needs it measured: use --mode {self.rank_by} or both"),
            (unknown, f"--precision: choose from {', '.join(Precision)}"),
            (not self.batches or min(self.batches) < 1 or max(self.batches) > MAX_BATCH,
             f"--batch: give sizes in [1, {MAX_BATCH}]"),
            (not self.max_drop >= 0 or math.isinf(self.max_drop),
             f"--max-drop: give 0 or more accuracy points, got {self.max_drop:g}"),
            (self.latency_budget_ms is not None and not 0 < self.latency_budget_ms < math.inf,
             "--latency-budget: give a positive, finite number of ms"),
            (not self.float_below or min(self.float_below) < 0, "--float-below: give channel counts >= 0"),
            (self.calib_size < 1, "--calib-size: give 1 or more faces"),
            (not 1 <= self.passes <= MAX_PASSES, f"--passes: give 1 to {MAX_PASSES}"),
            (self.out.exists() and not self.out.is_dir(), f"--out {self.out}: exists and is not a folder; choose another"),
        ]
        for wrong, message in problems:
            if wrong:
                raise DeployError(message)
        self.settings.validate()
