"""Real sample photos as files, for the photo demo, the photo benchmark and the tests (nothing is downloaded).

    python benchmarks/sample_photos.py OUT_DIR

writes astronaut.jpg (scikit-image) and grace_hopper.jpg (matplotlib), one face each; lfw_four.png, four
lfw_subset faces (25x25 grey, upscaled) pasted on scikit-image's coffee; and coffee.jpg, which holds no face.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]
# Marked by eye (hairline to chin, cheek to cheek), not by any detector.
PHOTO_FACES = {"astronaut": (180, 65, 270, 170), "grace_hopper": (168, 125, 362, 335)}
# lfw_subset face index -> (x, y, side) on a 520x400 coffee picture
LFW_COMPOSITE = {1: (30, 30, 112), 22: (200, 40, 120), 57: (370, 30, 104), 60: (150, 230, 124)}


def photo(name: str) -> Image.Image:
    """A scikit-image data picture (astronaut, coffee, ...) or matplotlib's grace_hopper.jpg, as RGB."""
    if name == "grace_hopper":
        import matplotlib.cbook

        return Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def lfw_face(index: int, side: int) -> Image.Image:
    """lfw_subset tile `index` (0-99 are real faces, 25x25 grey) upscaled to side x side, as RGB."""
    from skimage import data

    grey = Image.fromarray((data.lfw_subset()[index] * 255).round().astype(np.uint8))
    return grey.resize((side, side), Image.BICUBIC).convert("RGB")


def paste_faces(background: Image.Image, places: dict[int, tuple[int, int, int]]) -> tuple[Image.Image, list[Box]]:
    """`background` with lfw face index -> (x, y, side) pasted; returns it and the faces' (x1, y1, x2, y2)."""
    picture = background.copy()
    for index, (x, y, side) in places.items():
        picture.paste(lfw_face(index, side), (x, y))
    return picture, [(x, y, x + side, y + side) for x, y, side in places.values()]


def four_face_photo() -> tuple[Image.Image, list[Box]]:
    """Four LFW faces pasted on coffee (no face of its own): the picture and the faces' boxes."""
    return paste_faces(photo("coffee").resize((520, 400), Image.BICUBIC), LFW_COMPOSITE)


def crowd_photo(columns: int, rows: int, side: int = 160) -> tuple[Image.Image, list[Box]]:
    """The astronaut's face (with some of her suit and the background around it) tiled `columns` x `rows`, each
    tile `side` pixels: a photo with many faces, the costly kind for a server. Returns it and the tiles' boxes."""
    x1, y1, x2, y2 = PHOTO_FACES["astronaut"]
    grow = (x2 - x1) // 2
    tile = photo("astronaut").crop((x1 - grow, y1 - grow, x2 + grow, y2 + grow)).resize((side, side), Image.BICUBIC)
    picture = Image.new("RGB", (columns * side, rows * side))
    boxes = []
    for row in range(rows):
        for column in range(columns):
            picture.paste(tile, (column * side, row * side))
            boxes.append((column * side, row * side, (column + 1) * side, (row + 1) * side))
    return picture, boxes


def write_sample_photos(folder: str | Path) -> dict[str, list[Box]]:
    """The four sample photos in `folder`; returns file name -> the known face boxes (x1, y1, x2, y2)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    composite, places = four_face_photo()
    photo("astronaut").save(folder / "astronaut.jpg", quality=92)
    photo("grace_hopper").save(folder / "grace_hopper.jpg", quality=92)
    composite.save(folder / "lfw_four.png")
    photo("coffee").save(folder / "coffee.jpg", quality=92)
    return {"astronaut.jpg": [PHOTO_FACES["astronaut"]], "grace_hopper.jpg": [PHOTO_FACES["grace_hopper"]],
            "lfw_four.png": places, "coffee.jpg": []}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/sample_photos.py OUT_DIR")
    written = write_sample_photos(sys.argv[1])
    print(f"wrote {len(written)} photos to {sys.argv[1]}: {', '.join(written)}")
