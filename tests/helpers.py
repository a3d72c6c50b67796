"""Helpers shared by tests: hand-written FEC rows and a fast, deterministic training configuration."""

from __future__ import annotations

import functools
from pathlib import Path


def fec_row(urls=("a.png", "b.png", "c.png"), kind="ONE_CLASS_TRIPLET", labels=(1, 1, 1, 2, 1, 3), box="0.1,0.9,0.1,0.9") -> str:
    """One official-format row: three (url, box) faces, a type and (rater, label) pairs."""
    faces = ",".join(f'"{url}",{box}' for url in urls)
    raters = ",".join(f'"{100 + i}",{label}' for i, label in enumerate(labels))
    return f'{faces},"{kind}",{raters}'


def tiny_overrides(data: Path, **extra) -> dict:
    """A deterministic, fast configuration: fp32, no dropout, small stored faces."""
    return {"data": str(data), "model": "mobilenet_v3_small", "batch_size": 8, "max_steps": 6, "face_size": 64,
            "dropout": 0.0, "amp": "off", "val_fraction": 0.2, "eval_every": 3, "checkpoint_every": 3,
            "warmup_steps": 2, "lr": 0.01, "log_every": 1, **extra}


def tiny_torch_model():
    """A seeded 4-channel conv + linear network: enough for a runner to embed 8x8 batches."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(4, 16)).eval()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims a width x height canvas in a few dozen bytes (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def load_benchmark_script(name: str):
    """A script of benchmarks/ (not a package) as a module, e.g. load_benchmark_script("plateau_probe")."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Real faces that ship with installed packages (issue 16): one definition, in benchmarks/sample_photos.py, which
# the photo demo and the photo benchmark use too.
@functools.lru_cache(maxsize=1)
def _sample_photos():
    return load_benchmark_script("sample_photos")


PHOTO_FACES = _sample_photos().PHOTO_FACES  # boxes (x1, y1, x2, y2) marked by eye


def photo(name: str):
    """A scikit-image data picture (astronaut, coffee, ...) or matplotlib's grace_hopper.jpg, as PIL RGB."""
    return _sample_photos().photo(name)


def lfw_face(index: int, side: int):
    """lfw_subset tile `index` (0-99 are real faces, 25x25 grey) upscaled to side x side, as PIL RGB."""
    return _sample_photos().lfw_face(index, side)


def four_face_photo():
    """Four LFW faces pasted on coffee (no face of its own): the picture and the faces' (x1, y1, x2, y2)."""
    return _sample_photos().four_face_photo()


def write_sample_photos(folder) -> dict:
    """astronaut.jpg, grace_hopper.jpg (one face each), lfw_four.png (four) and coffee.jpg (none) in `folder`;
    returns file name -> the known face boxes (x1, y1, x2, y2)."""
    return _sample_photos().write_sample_photos(folder)
