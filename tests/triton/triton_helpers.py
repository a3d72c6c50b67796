"""Helpers of the Triton tests (imported by module name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fec.data.triplets import FaceBox


@dataclass(frozen=True)
class Picture:
    name: str
    payload: bytes
    box: FaceBox | None = None


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def synthetic_pictures(folder: Path, count: int) -> list[Picture]:
    """The first `count` distinct pictures of the synthetic test CSV, with their face boxes."""
    chosen: dict[str, Picture] = {}
    with open(folder / "test.csv", newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            url, box = row[0], FaceBox(*map(float, row[1:5]))
            if url not in chosen:
                chosen[url] = Picture(Path(url).name, (folder / url).read_bytes(), box)
            if len(chosen) == count:
                break
    return list(chosen.values())


def cosines(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    left = left / np.linalg.norm(left, axis=1, keepdims=True)
    right = right / np.linalg.norm(right, axis=1, keepdims=True)
    return (left * right).sum(axis=1)
