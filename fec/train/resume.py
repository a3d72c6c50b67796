"""Which checkpoint `fec-train --resume` continues from: the newest of the run that reads and holds a training
state (last.pt, else the highest checkpoints/step-N.pt), and which newer ones it passed over, and why; the
optimizer state, refused unless it fits the model and holds finite numbers (a NaN in it trains on to NaN
losses); and the part of that state that may legitimately differ between machines (the gradient scaler's)."""

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


def check_steps_left(step: int, max_steps: int, path: Path) -> None:
    """CheckpointError when the run is already past `max_steps`: resuming would train nothing and exit 0. A run
    at max_steps exactly resumes, to finish (test scores) what a kill may have cut short."""
    if step > max_steps:
        raise CheckpointError(f"{path}: the run is at step {step}, past max_steps {max_steps}, so there is nothing to "
                              f"train; give --max-steps above {step} to train on, or train into a new --out")


def restore_optimizer(optimizer: torch.optim.Optimizer, state: dict, path: Path) -> None:
    """Load a saved optimizer state, refused in one line unless every per-parameter tensor has its parameter's
    shape (torch loads any, then fails at the first step) and every tensor and setting is a finite number."""
    optimizer.load_state_dict(state)
    params = [param for group in optimizer.param_groups for param in group["params"]]
    for index, param in enumerate(params):
        for name, value in optimizer.state.get(param, {}).items():
            _check_state_tensor(value, param, f"optimizer state {name} of parameter {index}", path)
    for index, group in enumerate(optimizer.param_groups):
        for name, value in group.items():
            if name != "params" and not _finite_setting(value):
                raise CheckpointError(f"{path}: optimizer setting {name} of group {index} is {value!r}, not a finite "
                                      "number; train without --resume into a new --out")


def restore_scheduler(scheduler: torch.optim.lr_scheduler.LRScheduler, state: dict, path: Path) -> None:
    """Load a saved learning-rate schedule, refused in one line when its rates are not finite numbers."""
    scheduler.load_state_dict(state)
    for name in ("base_lrs", "_last_lr"):
        if not _finite_setting(state.get(name, [])):
            raise CheckpointError(f"{path}: scheduler {name} is {state[name]!r}, not finite numbers; train without "
                                  "--resume into a new --out")


def _check_state_tensor(value, param: torch.Tensor, what: str, path: Path) -> None:
    if not isinstance(value, torch.Tensor):
        return
    if value.dim() > 0 and value.shape != param.shape:  # `step` is a scalar tensor
        raise CheckpointError(f"{path}: {what} has shape {tuple(value.shape)} but the parameter has {tuple(param.shape)}: "
                              "the state belongs to another model; train without --resume into a new --out")
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise CheckpointError(f"{path}: {what} holds NaN or infinity, which would train on to NaN losses; resume "
                              "from an earlier checkpoints/step-N.pt (move this one away) or train into a new --out")


def _finite_setting(value) -> bool:
    """Whether an optimizer setting (lr, betas, eps, flags, None) holds only finite numbers."""
    if isinstance(value, (tuple, list)):
        return all(_finite_setting(item) for item in value)
    if isinstance(value, torch.Tensor):
        return not value.is_floating_point() or bool(torch.isfinite(value).all())
    return not isinstance(value, float) or math.isfinite(value)
