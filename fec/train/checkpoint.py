"""Checkpoints: everything needed to rebuild the model anywhere and to resume training exactly.

A checkpoint holds the weights, the model's registry name, options and preprocessing, the optimizer,
scheduler and grad-scaler states, step and epoch, RNG states, metrics, the resolved config and the
package version. Files are written to a temporary name and renamed, so a kill never leaves half a file.
"""

from __future__ import annotations

import pickle
import random
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

import fec
from fec.errors import CheckpointError, FecError
from fec.io import atomic_path
from fec.models import create_model
from fec.preprocessing import Preprocessing

FORMAT = "fec-checkpoint/1"
REQUIRED_KEYS = ("format", "model", "state_dict", "preprocessing")


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """Write `payload` (plus format and version tags) atomically to `path`."""
    payload = {"format": FORMAT, "fec_version": fec.__version__, **payload}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint written by `save_checkpoint`, or raise CheckpointError saying why not."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, AttributeError, ImportError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an fec checkpoint (no '{FORMAT}' tag); train one with fec-train")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return payload


def model_from_checkpoint(path: str | Path, expect_model: str | None = None) -> tuple[nn.Module, Preprocessing, dict]:
    """Rebuild the model a checkpoint describes, load its weights, return (model in eval mode, prep, payload)."""
    payload = read_checkpoint(path)
    config = dict(payload["model"])
    name = config.pop("name")
    if expect_model is not None and expect_model != name:
        raise CheckpointError(f"{path}: checkpoint is for model {name!r}, not {expect_model!r}")
    try:
        model = create_model(name, **config)
    except FecError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    load_weights(model, payload["state_dict"], path)
    model.eval()
    return model, Preprocessing.from_dict(payload["preprocessing"]), payload


def load_weights(model: nn.Module, state_dict: dict, source: str | Path) -> None:
    """Load weights strictly; a mismatch (another model's checkpoint) becomes one clear line."""
    result = model.load_state_dict(state_dict, strict=False)
    problems = list(result.missing_keys) + list(result.unexpected_keys)
    if problems:
        raise CheckpointError(
            f"{source}: weights do not fit model {model.config['name']!r} "
            f"({len(result.missing_keys)} missing, {len(result.unexpected_keys)} unexpected, e.g. {problems[0]!r})"
        )


def rng_states() -> dict:
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
