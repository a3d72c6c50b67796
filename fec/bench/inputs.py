"""What a benchmark feeds its runners: real face crops, their JPEG bytes, or random data.

Inputs are real face crops from a triplet CSV, or random normalised data when asked (never zeros:
some kernels take shortcuts on zeros). End-to-end iterations start from the crops' JPEG bytes,
encoded once in memory before any timing, and decode, resize and normalise them as a client would.
Kept apart from the timing so that every mode and backend is fed the same faces in the same order.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fec.bench.options import END_TO_END
from fec.bench.targets import Target
from fec.preprocessing import Preprocessing, decode_image, normalize_uint8, resize_uint8

JPEG_QUALITY = 90


@dataclass(frozen=True)
class FaceInputs:
    """A target's real faces: crops at the model's input size (compute), and as JPEG bytes (end-to-end)."""

    faces: np.ndarray
    jpegs: list[bytes] | None = None


def face_inputs(data: str | Path, target: Target, count: int, modes: tuple[str, ...]) -> FaceInputs:
    """The faces, and for end-to-end the same crops at their stored size (resizing is part of the timed work)
    encoded as JPEG once, before any timing."""
    faces = load_faces(data, target, count)
    if END_TO_END not in modes:
        return FaceInputs(faces=faces)
    return FaceInputs(faces=faces, jpegs=encode_jpegs(load_faces(data, target, count, size=target.crops.size)))


def load_faces(csv_path: str | Path, target: Target, count: int, size: int | None = None) -> np.ndarray:
    """Up to `count` real face crops (uint8 NHWC of `size` pixels, by default the model's input size) from a
    triplet CSV or data folder."""
    from fec.data.dataset import load_triplets, triplet_csv

    loaded = load_triplets(triplet_csv(csv_path), size or target.prep.input_size, face_size=target.crops.size,
                           margin=target.crops.margin, skip_bad_rows=True, cache=False)
    faces = loaded.dataset.faces
    return np.stack([faces[index] for index in range(min(count, len(faces)))])


def input_batch(faces: np.ndarray | None, batch: int, prep: Preprocessing, uint8_input: bool, seed: int = 0) -> np.ndarray:
    """A batch of `batch` faces (repeated when there are fewer), or random data when `faces` is None."""
    rng = np.random.default_rng(seed)
    if faces is None:
        pixels = rng.integers(1, 256, size=(batch, prep.input_size, prep.input_size, 3), dtype=np.uint8)
        if uint8_input:
            return pixels
        return rng.standard_normal((batch, 3, prep.input_size, prep.input_size)).astype(np.float32)
    chosen = np.ascontiguousarray(faces[np.arange(batch) % len(faces)])
    return chosen if uint8_input else normalize_uint8(chosen, prep)


def encode_jpegs(faces: np.ndarray, quality: int = JPEG_QUALITY) -> list[bytes]:
    """Each uint8 HWC face as JPEG bytes in memory: what an end-to-end iteration starts from."""
    from PIL import Image

    payloads = []
    for face in faces:
        buffer = io.BytesIO()
        Image.fromarray(face).save(buffer, format="JPEG", quality=quality)
        payloads.append(buffer.getvalue())
    return payloads


def jpeg_batch(payloads: list[bytes], batch: int) -> list[bytes]:
    """`batch` JPEG payloads (repeated when there are fewer), in input_batch's order."""
    return [payloads[index % len(payloads)] for index in range(batch)]


def preprocess_jpegs(payloads: list[bytes], prep: Preprocessing, uint8_input: bool) -> np.ndarray:
    """JPEG bytes -> the runner's feed: decoded, resized to the model's input, normalised (uint8 NHWC kept as is)."""
    pixels = np.stack([resize_uint8(decode_image(payload), prep.input_size) for payload in payloads])
    return pixels if uint8_input else normalize_uint8(pixels, prep)
