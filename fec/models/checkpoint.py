"""Checkpoints: the file format that carries a trained model (and a run's state) between stages.

A checkpoint holds the weights, the model's registry name, options and preprocessing, the optimizer,
scheduler and grad-scaler states, step and epoch, RNG states, metrics, the resolved config and the
package version. Files are written to a temporary name and renamed, so a kill never leaves half a file.

Checkpoints are untrusted input: a pickle can name any Python callable, and unpickling calls it.
So everything is saved as tensors and plain data (numbers, strings, lists, tuples, dicts) and read
with `torch.load(weights_only=True)`, which refuses anything else. The one allow-listed addition is
numpy's plain-array reconstruction, which checkpoints written before 0.2 hold (their numpy RNG state);
an array of Python objects still needs a refused global.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

import fec
from fec.errors import ArtifactError, CheckpointError, FecError
from fec.io import atomic_path
from fec.models.registry import create_model
from fec.preprocessing import Preprocessing

CHECKPOINT_SCHEMA = "fec-checkpoint/1"
REQUIRED_KEYS = ("format", "model", "state_dict", "preprocessing")


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """Write `payload` (plus format and version tags) atomically to `path`."""
    payload = {"format": CHECKPOINT_SCHEMA, "fec_version": fec.__version__, **payload}
    try:
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
    except (OSError, RuntimeError) as exc:  # a full disk surfaces from torch's zip writer as RuntimeError
        raise CheckpointError(f"{path}: could not write the checkpoint ({_first_sentence(exc)}); the previous one "
                              "is intact: free some space, then continue with --resume") from None
    return Path(path)


def _first_sentence(exc: Exception) -> str:
    return (getattr(exc, "strerror", None) or str(exc).split("\n")[0] or type(exc).__name__)[:160]


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint written by `save_checkpoint`, or raise CheckpointError saying why not."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    _check_archive(path)
    try:
        with torch.serialization.safe_globals(_NUMPY_ARRAY_GLOBALS), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")  # a foreign file's detail
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = _refused_global(exc)
        if refused is None:
            raise CheckpointError(f"{path}: not a readable checkpoint ({_first_line(exc)})") from None
        raise CheckpointError(f"{path}: refused: it holds a Python object ({refused}), not only tensors and plain data, "
                              "and loading it could run code; fec never writes such a file") from None
    except (zipfile.BadZipFile, RuntimeError, EOFError, ValueError, AttributeError, ImportError, IndexError, KeyError,
            TypeError) as exc:  # what torch raises for truncated or foreign bytes
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_SCHEMA:
        raise CheckpointError(f"{path}: not an fec checkpoint (no '{CHECKPOINT_SCHEMA}' tag); train one with fec-train")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    if not isinstance(payload["model"], dict) or not isinstance(payload["model"].get("name"), str):
        raise CheckpointError(f"{path}: checkpoint's model entry names no model")
    try:
        Preprocessing.from_dict(payload["preprocessing"], path)
    except ArtifactError as exc:
        raise CheckpointError(str(exc)) from None
    return payload


def model_from_checkpoint(path: str | Path, expect_model: str | None = None) -> tuple[nn.Module, Preprocessing, dict]:
    """Rebuild the model a checkpoint describes, load its weights, return (model in eval mode, prep, payload)."""
    payload = read_checkpoint(path)
    config = dict(payload["model"])
    name = config.pop("name")
    if "pretrained" in config:  # a path to read, chosen by whoever wrote the file; fec never records one
        raise CheckpointError(f"{path}: the model entry names a pretrained weights file; a checkpoint carries its own "
                              "weights: this one was not written by fec")
    if expect_model is not None and expect_model != name:
        raise CheckpointError(f"{path}: checkpoint is for model {name!r}, not {expect_model!r}")
    try:
        model = create_model(name, **config)
    except FecError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    prep = Preprocessing.from_dict(payload["preprocessing"], path)
    if model.preprocessing.input_size != prep.input_size:
        raise CheckpointError(f"{path}: the model entry's input size ({model.preprocessing.input_size} px) is not its "
                              "preprocessing's; the file was edited")
    load_weights(model, payload["state_dict"], path)
    model.eval()
    return model, prep, payload


def load_weights(model: nn.Module, state_dict: dict, source: str | Path) -> None:
    """Load weights strictly; a mismatch (another model's checkpoint) becomes one clear line."""
    if not isinstance(state_dict, dict) or not all(isinstance(value, torch.Tensor) for value in state_dict.values()):
        raise CheckpointError(f"{source}: the state_dict entry is not a mapping of names to tensors")
    try:
        result = model.load_state_dict(state_dict, strict=False)
    except RuntimeError as exc:  # a tensor of another shape: torch lists every mismatch, the first says enough
        first = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
        raise CheckpointError(f"{source}: weights do not fit model {model.config['name']!r} ({first[:200]})") from None
    damaged = next((name for name, value in state_dict.items()
                    if value.is_floating_point() and not bool(torch.isfinite(value).all())), None)
    if damaged is not None:
        raise CheckpointError(f"{source}: weight {damaged!r} holds NaN or infinite values (a diverged or damaged "
                              "run); use an earlier checkpoint")
    problems = list(result.missing_keys) + list(result.unexpected_keys)
    if problems:
        raise CheckpointError(
            f"{source}: weights do not fit model {model.config['name']!r} "
            f"({len(result.missing_keys)} missing, {len(result.unexpected_keys)} unexpected, e.g. {problems[0]!r})"
        )


# numpy's pickled arrays and dtypes: plain numbers, the legacy RNG state in older checkpoints.
_NUMPY_ARRAY_GLOBALS = [np.core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def _refused_global(exc: pickle.UnpicklingError) -> str | None:
    """The callable torch's weights-only unpickler refused to import ('posix.system'), or None."""
    found = re.search(r"unsupported GLOBAL ([\w.]+)", str(exc), re.IGNORECASE)
    return found.group(1) if found else None


# torch.save stores its zip entries uncompressed, so what a checkpoint expands to is about its size on disk.
# Entries that declare more are a compressed file fec never writes, possibly a zip bomb: refused unread. The
# archive's checksums are checked too (torch does not): changed bytes would otherwise load as weights.
MAX_EXPANSION = 2.0
EXPANSION_SLACK_BYTES = 1 << 20


def _check_archive(path: Path) -> None:
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            if handle.read(1) != b"\x80":  # torch's legacy format is a pickle, and pickles start so
                raise CheckpointError(f"{path}: not a PyTorch checkpoint (neither torch's zip format nor a pickle)")
        return
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(entry.file_size for entry in archive.infolist())
            if declared > MAX_EXPANSION * size + EXPANSION_SLACK_BYTES:
                raise CheckpointError(f"{path}: refused: its entries expand to {declared / 2**20:.0f} MiB from "
                                      f"{size / 2**20:.1f} MiB on disk (compressed; fec never writes such a file)")
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zipfile.LargeZipFile):
        return  # unreadable as a zip: torch.load reports it
    if damaged is not None:  # torch does not check the zip's checksums: changed bytes would load as weights
        raise CheckpointError(f"{path}: damaged: its entry {damaged} fails its checksum; use an earlier checkpoint")


def _first_line(exc: Exception) -> str:
    """What torch says is wrong with the pickle, without its advice to load it unsafely."""
    reason = re.search(r"WeightsUnpickler error: (.+?)\n\n", str(exc), re.DOTALL)
    return f"{type(exc).__name__}: {(reason.group(1) if reason else str(exc)).strip()[:120]}"
