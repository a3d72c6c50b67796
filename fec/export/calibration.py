"""INT8 calibration inputs: real face crops from an FEC-format triplet CSV.

Quantization ranges are only as good as the pictures they were measured on, so calibration uses
the same face crops (same store, face size and margin) as training, never random tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fec.artifacts import UINT8_NHWC
from fec.data.dataset import load_triplets
from fec.export.errors import ExportError
from fec.preprocessing import Preprocessing, normalize_uint8

MIN_CALIBRATION_FACES = 32
CALIBRATION_BATCH = 16
MIN_VALIDATION_TRIPLETS = 50   # accuracy-controlled int8: fewer cannot tell a 0.5-point drop from noise at all
VALIDATION_TRIPLETS = 600      # ... and its validation set: triplets spread over the calibration CSV


@dataclass(frozen=True)
class ValidationTriplets:
    """Triplets an accuracy-controlled quantizer measures the task's own metric on (nncf-accuracy): uint8 faces
    (N, 3, H, W, 3) and the 0-based odd one of each. Taken from the calibration CSV (training data), never from
    the held-out set fec-verify and fec-deploy score on."""

    faces: np.ndarray
    odd_index: np.ndarray


def load_validation_triplets(csv_path: str | Path, input_size: int, count: int, store: str | Path | None = None,
                             face_size: int = 224, margin: float = 0.0) -> ValidationTriplets:
    """`count` triplets (or all, when fewer) spread evenly over the CSV."""
    dataset = load_triplets(csv_path, input_size, store, face_size, margin, skip_bad_rows=True, cache=False).dataset
    if len(dataset) < MIN_VALIDATION_TRIPLETS:
        raise ExportError(f"{csv_path}: {len(dataset)} usable triplets; accuracy-controlled int8 validates on at least "
                          f"{MIN_VALIDATION_TRIPLETS}: use a larger FEC-format CSV for --calib-data")
    picks = np.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().astype(np.int64)
    faces = np.stack([np.stack([dataset.faces[int(face)] for face in dataset.face_index[index]]) for index in picks])
    return ValidationTriplets(faces, dataset.odd_index[picks])


def load_calibration_faces(csv_path: str | Path, input_size: int, count: int, store: str | Path | None = None,
                           face_size: int = 224, margin: float = 0.0, quiet: bool = True) -> np.ndarray:
    """`count` distinct faces spread evenly over the CSV's faces, as uint8 NHWC at `input_size`."""
    if count < MIN_CALIBRATION_FACES:
        raise ExportError(f"--calib-size {count} is too small: INT8 calibration needs at least {MIN_CALIBRATION_FACES} faces")
    loaded = load_triplets(csv_path, input_size, store, face_size, margin, skip_bad_rows=True, cache=False, quiet=quiet)
    faces = loaded.dataset.faces
    if len(faces) < count:
        raise ExportError(f"{csv_path}: calibration set too small: {len(faces)} distinct faces, --calib-size asks for "
                          f"{count}; use a larger FEC-format CSV or a --calib-size between {MIN_CALIBRATION_FACES} "
                          f"and {len(faces)}")
    picks = np.linspace(0, len(faces) - 1, count).round().astype(np.int64)
    return np.stack([faces[int(index)] for index in picks])


def model_inputs(faces_uint8: np.ndarray, prep: Preprocessing, input_format: str) -> np.ndarray:
    """Faces as the graph takes them: raw uint8 NHWC when preprocessing is baked in, else normalised NCHW."""
    return faces_uint8 if input_format == UINT8_NHWC else normalize_uint8(faces_uint8, prep)


def batches(inputs: np.ndarray, size: int = CALIBRATION_BATCH) -> list[np.ndarray]:
    return [inputs[start:start + size] for start in range(0, len(inputs), size)]
