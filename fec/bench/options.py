"""How to benchmark, as one value: the options every target and backend of a run share.

Backends, batch sizes, measurement settings, inputs, threads, concurrency, keep-going, modes and the
progress callback travel together as one keyword-only BenchOptions rather than as loose parameters
threaded through every function (where two swapped positional arguments would pass silently).
This module also says what the modes are, and which settings a report records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from fec.bench.errors import BenchError
from fec.bench.measure import COMPUTE, END_TO_END, MODES, MeasureSettings
from fec.bench.targets import is_server

__all__ = ["COMPUTE", "END_TO_END", "MODES", "BenchOptions", "bench_modes", "check_modes", "sized_windows"]
DEFAULT_WINDOW_ITERS = 50


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    """Everything a run needs besides its targets: what to run, at which batches, how long, on what inputs."""

    batches: list[int]
    backends: list[str] | None = None              # None: every backend that fits a target and can run here
    settings: MeasureSettings = field(default_factory=MeasureSettings)
    data: str | Path | None = None                 # real face crops (a triplet CSV or data folder); None: random inputs
    threads: int | None = None                     # intra-op threads of local runners
    concurrency: int = 1                           # clients sending at once (server targets only)
    keep_going: bool = False                       # record a backend that fails and measure the others
    modes: tuple[str, ...] = (COMPUTE,)
    progress: Callable[[str], None] | None = None  # told what is being measured, and what failed

    @property
    def inputs(self) -> str:
        return "faces" if self.data is not None else "random"

    @property
    def mode(self) -> str:
        """The `--mode` choice these modes come from."""
        return "both" if self.modes == MODES else self.modes[0]

    def compute_only(self) -> BenchOptions:
        """These options without end-to-end (what a server target runs: the server preprocesses on its side)."""
        return replace(self, modes=tuple(mode for mode in self.modes if mode != END_TO_END))

    def report_settings(self) -> dict:
        """The settings a JSON report records: the measurement's, then threads, inputs, concurrency and mode."""
        return {**asdict(self.settings), "threads": self.threads, "inputs": self.inputs,
                "concurrency": self.concurrency, "mode": self.mode}


def bench_modes(choice: str) -> tuple[str, ...]:
    """The modes of `--mode compute|end-to-end|both`."""
    if choice == "both":
        return MODES
    if choice not in MODES:
        raise BenchError(f"unknown mode {choice!r}; choose compute, end-to-end or both")
    return (choice,)


def sized_windows(settings: MeasureSettings) -> MeasureSettings:
    """Settings whose window is sized by iterations or by a duration, not both (50 iterations when neither)."""
    if settings.iters is not None and settings.duration_s is not None:
        raise BenchError("give --iters or --duration, not both")
    if settings.duration_s is not None:
        return settings
    return replace(settings, iters=DEFAULT_WINDOW_ITERS if settings.iters is None else settings.iters)


def check_modes(paths: list[str], modes: tuple[str, ...], faces: bool) -> None:
    """End-to-end needs real faces, and covers local runners only (checked on the paths: no server is contacted)."""
    if END_TO_END not in modes:
        return
    if not faces:
        raise BenchError("--mode end-to-end starts from the JPEG bytes of real face crops: give --data "
                         "(not --inputs random)")
    servers = [path for path in paths if is_server(path)]
    if servers and modes == (END_TO_END,):
        raise BenchError(f"{servers[0]}: --mode end-to-end does not apply to Triton server targets (the server "
                         "decodes and preprocesses on its side); use --mode compute or both")
