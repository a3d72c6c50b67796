"""From targets to measurements: every planned (target, backend) measured, failures kept or raised.

A target is a checkpoint (.pt), an export folder or a model on a running Triton server (resolved by
fec.bench.targets). Which backend runs which target is planned first (fec.bench.plan); each pair is
then measured on the same inputs (fec.bench.inputs, fec.bench.backend_rows) and the rows gathered
into one outcome, with the pairs that could not run when the options say to keep going. How to
benchmark travels as one BenchOptions (fec.bench.options).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fec.bench.backend_rows import bench_backend
from fec.bench.inputs import FaceInputs, face_inputs
from fec.bench.options import END_TO_END, BenchOptions, check_modes
from fec.bench.plan import check_request, plan
from fec.bench.report import BenchRow
from fec.bench.targets import Target, resolve_target
from fec.errors import FecError
from fec.runtimes.backends import Backend


@dataclass
class BenchOutcome:
    """Rows measured, and the (target, backend) pairs that could not run (with --keep-going)."""

    rows: list[BenchRow] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def records(self) -> list[dict]:
        """The rows as the flat, rounded records every report format writes."""
        return [row.record() for row in self.rows]


def run_benchmark(paths: list[str | Path], options: BenchOptions) -> BenchOutcome:
    """Resolve each path (a checkpoint, an export folder, a server URL) and measure it as `options` say."""
    return bench_targets([resolve_target(path) for path in paths], options)


def bench_targets(targets: list[Target], options: BenchOptions) -> BenchOutcome:
    """Measure every (target, backend, batch, mode); faces from `options.data`, or random inputs when it is None.

    With `options.keep_going`, a backend that cannot run here or fails is recorded in `failures` and the
    others still run; without it, the first one stops the run. Server targets skip end-to-end, with a note.
    """
    pairs = plan(targets, options.backends)
    check_request(pairs, options)
    check_modes([target.path for target in targets], options.modes, options.data is not None)
    outcome, inputs_of = BenchOutcome(), {}
    for target, backend in pairs:
        pair_options = options
        if backend.kind.startswith("server") and END_TO_END in options.modes:
            pair_options = options.compute_only()
            outcome.notes.append(f"{backend.name} ({target.label}): end-to-end skipped, the server preprocesses "
                                 "on its side (compute only)")
        try:
            outcome.rows += bench_backend(target, backend, target_inputs(target, pair_options, inputs_of), pair_options)
        except Exception as exc:  # noqa: BLE001 - recorded per backend with --keep-going, re-raised otherwise
            if not options.keep_going:
                raise
            outcome.failures.append(failure(target, backend, exc, options.progress))
    return outcome


def target_inputs(target: Target, options: BenchOptions, loaded: dict[str, FaceInputs]) -> FaceInputs | None:
    """The target's faces, loaded once for all its backends (None for random inputs)."""
    if options.data is not None and target.path not in loaded:
        loaded[target.path] = face_inputs(options.data, target, max(options.batches), options.modes)
    return loaded.get(target.path)


def failure(target: Target, backend: Backend, exc: Exception, progress: Callable[[str], None] | None) -> dict:
    """A failed (target, backend) as a report entry; a bug (not a FecError) also shows its traceback."""
    message = str(exc) if isinstance(exc, FecError) else f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, FecError):
        print(traceback.format_exc(), file=sys.stderr)
    if progress:
        progress(f"{backend.name} ({target.label}) failed: {message}")
    return {"target": target.path, "backend": backend.name, "error": message.splitlines()[0] if message else ""}
