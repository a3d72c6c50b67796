"""Which checkpoint `fec-train --resume` continues from: the newest of the run that reads and holds a training
state (last.pt, else the highest checkpoints/step-N.pt), and which newer ones it passed over, and why; and the
part of that state that may legitimately differ between machines (the gradient scaler's)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from fec.errors import CheckpointError
from fec.models.checkpoint import read_checkpoint

RESUME_STATE = {"optimizer": dict, "scheduler": dict, "scaler": dict, "rng": dict}


def check_resumable(payload: dict, path: Path) -> None:
    """CheckpointError unless the checkpoint holds a training state to resume (not only weights)."""
    wrong = [key for key, kind in RESUME_STATE.items() if not isinstance(payload.get(key), kind)]
    step, best = payload.get("step"), payload.get("best_accuracy")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        wrong.append("step")
    if isinstance(best, bool) or not isinstance(best, (int, float)) or not math.isfinite(best):
        wrong.append("best_accuracy")
    if wrong:
        raise CheckpointError(f"{path}: no training state to resume (missing or damaged: {', '.join(wrong)})")


def resume_point(run_dir: Path) -> tuple[Path, dict, list[str]]:
    """(path, payload, why each newer checkpoint was passed over) of the newest resumable checkpoint in
    `run_dir`; CheckpointError naming the newest's fault when there is none."""
    candidates = [run_dir / "last.pt", *sorted((run_dir / "checkpoints").glob("step-*.pt"), reverse=True)]
    problems = []
    for path in (path for path in candidates if path.is_file()):
        try:
            payload = read_checkpoint(path)
            check_resumable(payload, path)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        return path, payload, problems
    found = f" (the newest: {problems[0]})" if problems else ""
    raise CheckpointError(f"{run_dir}: nothing to resume: no readable last.pt or checkpoints/step-N.pt{found}; "
                          "train without --resume to start this run afresh")


def restore_scaler(scaler: torch.amp.GradScaler, state: dict) -> None:
    """GradScaler state from a checkpoint. A run saved with the scaler off (bf16 or no autocast: state {}) and
    resumed where `amp: auto` picks fp16 starts the scaler afresh; load_state_dict would refuse the empty state."""
    if state:
        scaler.load_state_dict(state)
