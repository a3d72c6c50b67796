"""Helpers of the Triton tests (imported by module name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fec.data.triplets import FaceBox
from fec.detect.convention import BoxConvention

# What `fec-data fit-boxes` measured on the embedded default (data/synth, 408 faces): the session checkpoint is
# trained with it beside its CSV, so it records this convention and the photo paths must apply it.
TRAINED_CONVENTION = BoxConvention(offset_x=-0.009, offset_y=-0.066, scale_x=1.507, scale_y=1.169, faces=408)


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


def process_stat(pid: int) -> tuple[str, int, str] | None:
    """(state, parent pid, start time) of a process from /proc/PID/stat, or None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": field 3 (state) is index 0
    return fields[0], int(fields[1]), fields[19]


def child_pids(parent: int) -> list[int]:
    """Processes whose parent is `parent` now."""
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    return [pid for pid in pids if (process_stat(pid) or ("", -1, ""))[1] == parent]


def still_running(processes: dict[int, str]) -> list[int]:
    """Which of the processes {pid: start time} still run (a zombie or a reused pid does not count)."""
    alive = []
    for pid, started in processes.items():
        stat = process_stat(pid)
        if stat is not None and stat[0] != "Z" and stat[2] == started:
            alive.append(pid)
    return alive
