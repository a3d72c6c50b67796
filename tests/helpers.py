"""Helpers shared by tests: hand-written FEC rows and a fast, deterministic training configuration."""

from __future__ import annotations

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


# Real faces that ship with installed packages (issue 16), boxes (x1, y1, x2, y2) marked by eye.
PHOTO_FACES = {"astronaut": (180, 65, 270, 170), "grace_hopper": (168, 125, 362, 335)}


def photo(name: str):
    """A scikit-image data picture (astronaut, coffee, ...) or matplotlib's grace_hopper.jpg, as PIL RGB."""
    from PIL import Image

    if name == "grace_hopper":
        import matplotlib.cbook

        return Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def lfw_face(index: int, side: int):
    """lfw_subset tile `index` (0-99 are real faces, 25x25 grey) upscaled to side x side, as PIL RGB."""
    import numpy as np
    from PIL import Image
    from skimage import data

    grey = Image.fromarray((data.lfw_subset()[index] * 255).round().astype(np.uint8))
    return grey.resize((side, side), Image.BICUBIC).convert("RGB")


def paste_faces(background, places: dict[int, tuple[int, int, int]]):
    """`background` with lfw face index -> (x, y, side) pasted; returns it and the faces' (x1, y1, x2, y2)."""
    picture = background.copy()
    for index, (x, y, side) in places.items():
        picture.paste(lfw_face(index, side), (x, y))
    return picture, [(x, y, x + side, y + side) for x, y, side in places.values()]


# lfw_subset face index -> (x, y, side) on a 520x400 coffee picture (which holds no face)
LFW_COMPOSITE = {1: (30, 30, 112), 22: (200, 40, 120), 57: (370, 30, 104), 60: (150, 230, 124)}


def four_face_photo():
    """Four LFW faces pasted on coffee (no face of its own): the picture and the faces' (x1, y1, x2, y2)."""
    from PIL import Image

    return paste_faces(photo("coffee").resize((520, 400), Image.BICUBIC), LFW_COMPOSITE)


def write_sample_photos(folder) -> dict:
    """The real sample photos as files: astronaut and grace_hopper (one face each), the four-face composite and
    coffee (none). Returns photo file name -> the known face boxes (x1, y1, x2, y2)."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    composite, places = four_face_photo()
    photo("astronaut").save(folder / "astronaut.jpg", quality=92)
    photo("grace_hopper").save(folder / "grace_hopper.jpg", quality=92)
    composite.save(folder / "lfw_four.png")
    photo("coffee").save(folder / "coffee.jpg", quality=92)
    return {"astronaut.jpg": [PHOTO_FACES["astronaut"]], "grace_hopper.jpg": [PHOTO_FACES["grace_hopper"]],
            "lfw_four.png": places, "coffee.jpg": []}
