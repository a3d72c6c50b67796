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
from fec.preprocessing import MIN_INPUT_SIZE
from fec.vocabulary import Precision

MAX_PASSES = 100                                 # timing passes: each times every candidate again
INT8_QUANTIZERS = ("onnxruntime", "nncf")        # fec-deploy's int8 exports: ONNX Runtime's (per --float-below), NNCF's
# ... and what --quantizer may add: NNCF's accuracy control on triplet accuracy within --max-drop (a few validation
# passes per candidate, so asked for, not default)
INT8_QUANTIZER_CHOICES = (*INT8_QUANTIZERS, "nncf-accuracy")
DEFAULT_FLOAT_BELOW = (NARROW_CHANNELS, 16, 0)   # int8: convolutions narrower than this many channels stay float


SHRINK = 0.75   # a student's default input side, as a share of the checkpoint's (0.56 of its arithmetic)


@dataclass(frozen=True)
class CompressOptions:
    """How students are made: their input sizes, and how long each may train."""

    sizes: tuple[int, ...] = ()      # student input sides; () for SHRINK of the teacher's (a multiple of 8)
    budget_s: float = 900.0          # training time for all students together
    max_steps: int = 600             # per student
    batch_size: int = 64
    lr: float = 1e-3                 # the demo model's 48-px student: 79.4% at 3e-4, 81.7% at 1e-3 (teacher 81.0%)
    max_faces: int = 20000           # training faces used, spread evenly over train.csv (memory: both sizes, uint8)
    save_every: int = 25             # steps between saved states (what a killed run resumes from)
    seed: int = 0

    def validate(self) -> None:
        problems = [
            (any(not MIN_INPUT_SIZE <= size <= 1024 for size in self.sizes),
             f"--compress-sizes: give sides in [{MIN_INPUT_SIZE}, 1024] pixels"),
            (not 0 < self.budget_s <= 86400, "--compress-budget: give 1 to 86400 seconds"),
            (not 1 <= self.max_steps <= 100_000, "--compress-steps: give 1 to 100000 steps"),
        ]
        for wrong, message in problems:
            if wrong:
                raise DeployError(message)

    def student_sizes(self, teacher_size: int) -> list[int]:
        default = max(MIN_INPUT_SIZE, round(teacher_size * SHRINK / 8) * 8)
        return [size for size in (self.sizes or (default,)) if size < teacher_size]



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
    quantizers: tuple[str, ...] = INT8_QUANTIZERS
    settings: MeasureSettings = field(default_factory=MeasureSettings)
    threads: int | None = None
    modes: tuple[str, ...] = MODES
    rank_by: str = COMPUTE
    passes: int = 2                              # timing passes over all candidates (every other one reversed)
    peer: bool = True                            # also measure the peer row (NNCF's default int8, OpenVINO's hints)
    compress: CompressOptions | None = None      # also distil students at smaller inputs and make them candidates
    progress: Callable[[str], None] | None = None
    progress_bars: bool = False                  # tqdm bars for long steps (the students' training)

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
            (not self.quantizers or not set(self.quantizers) <= set(INT8_QUANTIZER_CHOICES),
             f"--quantizer: choose from {', '.join(INT8_QUANTIZER_CHOICES)}"),
            (self.calib_size < 1, "--calib-size: give 1 or more faces"),
            (not 1 <= self.passes <= MAX_PASSES, f"--passes: give 1 to {MAX_PASSES}"),
            (self.out.exists() and not self.out.is_dir(), f"--out {self.out}: exists and is not a folder; choose another"),
        ]
        for wrong, message in problems:
            if wrong:
                raise DeployError(message)
        self.settings.validate()
        if self.compress is not None:
            self.compress.validate()
