"""How well a face detector finds real faces on this CPU, and how alike its aligned crops embed.

    python benchmarks/detection_quality.py [--detector mtcnn|opencv-haar] [--composites 10] [--checkpoint RUN/best.pt]

Real faces that ship with installed packages (nothing is downloaded): scikit-image's astronaut and
matplotlib's grace_hopper.jpg (one face each, boxes marked by eye), and composites: lfw_subset faces
(25x25 grey, upscaled to 80-140 px) pasted at known places onto coffee/chelsea/rocket, which hold no face,
with lfw_subset's non-face tiles pasted beside them as decoys. Prints recall (IoU >= 0.5), mean IoU of each
known face's best match, false positives (found boxes matching no known face), ms per photo, and, given a
checkpoint, the cosine between the embeddings of a box crop and of a detected-and-aligned crop of the same
face (with the checkpoint's recorded face size and margin).

`opencv-haar` (OpenCV's frontal-face Haar cascade, shipped in opencv-python-headless 4.x; 5.x dropped the
cascades) is here only for the comparison: it gives boxes without landmarks, so it cannot align.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from fec.detect import DetectedFace, align_face, align_in_box, create_detector, iou
from fec.errors import FecError
from fec.preprocessing import FaceBox, crop_box, resize_uint8

Box = tuple[float, float, float, float]
# Marked by eye (hairline to chin, cheek to cheek), not by any detector.
PHOTO_FACES = {"astronaut": [(180, 65, 270, 170)], "grace_hopper": [(168, 125, 362, 335)]}
NO_FACE = ("coffee", "chelsea", "rocket")
COMPOSITE_SIZE = (640, 480)


def photo(name: str) -> Image.Image:
    """A picture that ships with scikit-image or matplotlib, as RGB."""
    if name == "grace_hopper":
        import matplotlib.cbook

        return Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def lfw_tile(index: int, side: int) -> Image.Image:
    """lfw_subset tile `index` (0-99 faces, 100-199 non-faces) upscaled to side x side, as RGB."""
    from skimage import data

    tiles = data.lfw_subset()
    grey = Image.fromarray((tiles[index] * 255).round().astype(np.uint8))
    return grey.resize((side, side), Image.BICUBIC).convert("RGB")


def composite(seed: int, faces: int = 4, decoys: int = 2) -> tuple[Image.Image, list[Box]]:
    """A no-face photo with `faces` lfw faces and `decoys` lfw non-faces pasted at random, non-overlapping
    places; returns the picture and the faces' boxes."""
    rng = np.random.default_rng(seed)
    canvas = photo(NO_FACE[seed % len(NO_FACE)]).resize(COMPOSITE_SIZE, Image.BICUBIC)
    placed: list[Box] = []
    while len(placed) < faces + decoys:
        side = int(rng.integers(80, 141))
        x, y = int(rng.integers(0, COMPOSITE_SIZE[0] - side)), int(rng.integers(0, COMPOSITE_SIZE[1] - side))
        box = (x, y, x + side, y + side)
        if all(iou(box, other) == 0 and not _touching(box, other) for other in placed):
            index = int(rng.integers(0, 100)) + (100 if len(placed) >= faces else 0)
            canvas.paste(lfw_tile(index, side), (x, y))
            placed.append(box)
    return canvas, placed[:faces]


def _touching(first: Box, second: Box, gap: int = 10) -> bool:
    return not (first[2] + gap <= second[0] or second[2] + gap <= first[0] or first[3] + gap <= second[1]
                or second[3] + gap <= first[1])


class HaarDetector:
    """OpenCV's frontal-face Haar cascade, for the comparison only (no landmarks, so no alignment)."""

    def __init__(self):
        import cv2

        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade, self.cv2 = cv2.CascadeClassifier(path), cv2

    def detect(self, picture: Image.Image) -> list[DetectedFace]:
        grey = self.cv2.cvtColor(np.asarray(picture.convert("RGB")), self.cv2.COLOR_RGB2GRAY)
        found = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(20, 20))
        return [DetectedFace((x, y, x + w, y + h), ((0.0, 0.0),) * 5, 1.0) for x, y, w, h in found]


@dataclass
class Tally:
    known: int = 0
    matched: int = 0
    best_ious: list[float] = field(default_factory=list)
    false_positives: int = 0
    ms: list[float] = field(default_factory=list)

    def add(self, found: list[DetectedFace], known: list[Box], seconds: float) -> None:
        self.ms.append(seconds * 1000)
        self.known += len(known)
        for box in known:
            best = max((iou(face.box, box) for face in found), default=0.0)
            self.best_ious.append(best)
            self.matched += best >= 0.5
        self.false_positives += sum(all(iou(face.box, box) < 0.5 for box in known) for face in found)

    def line(self, label: str) -> str:
        recall = f"{self.matched}/{self.known} ({self.matched / self.known:.0%})" if self.known else "-"
        mean_iou = f"{statistics.mean(self.best_ious):.3f}" if self.best_ious else "-"
        return (f"{label:<34} recall {recall:<14} mean IoU {mean_iou:<6} false positives {self.false_positives:<3} "
                f"ms/photo median {statistics.median(self.ms):6.1f}")


def timed(detector, picture: Image.Image) -> tuple[list[DetectedFace], float]:
    start = time.perf_counter()
    found = detector.detect(picture)
    return found, time.perf_counter() - start


def quality(detector, composites: int) -> dict[str, Tally]:
    tallies = {"photos (astronaut, grace_hopper)": Tally(), f"composites ({composites} x 4 lfw faces)": Tally(),
               "no-face photos (coffee, chelsea, rocket)": Tally()}
    photos_tally, composite_tally, empty_tally = tallies.values()
    detector.detect(photo("astronaut"))  # warm-up: first calls allocate
    for name, known in PHOTO_FACES.items():
        photos_tally.add(*_found_known(detector, photo(name), known))
    for seed in range(composites):
        picture, known = composite(seed)
        composite_tally.add(*_found_known(detector, picture, known))
    for name in NO_FACE:
        empty_tally.add(*_found_known(detector, photo(name), []))
    return tallies


def _found_known(detector, picture: Image.Image, known: list[Box]):
    found, seconds = timed(detector, picture)
    return found, known, seconds


def embedding_agreement(checkpoint: str, detector, composites: int) -> list[str]:
    """Cosine between a box crop and an aligned crop of the same face, as training would crop and embed them."""
    from fec.data.dataset import FaceCrops
    from fec.evaluate import torch_embedder
    from fec.models.checkpoint import model_from_checkpoint

    model, prep, payload = model_from_checkpoint(checkpoint)
    crops = FaceCrops.recorded(payload.get("config"))
    embed = torch_embedder(model, prep)

    def vector(face: Image.Image) -> np.ndarray:
        stored = face.resize((crops.size, crops.size), Image.BICUBIC)
        return embed(np.array(resize_uint8(stored, prep.input_size))[None])[0]  # a writable copy for torch

    rows = {"detected box, aligned": [], "FEC box, aligned (--align)": [], "box crops of different faces": []}
    previous = None
    for picture, known in _face_pictures(composites):
        for box in known:
            fec_box = FaceBox(box[0] / picture.width, box[2] / picture.width, box[1] / picture.height, box[3] / picture.height)
            reference = vector(crop_box(picture, fec_box, crops.margin))
            face = max(detector.detect(picture), key=lambda found: iou(found.box, box), default=None)
            if face is None or iou(face.box, box) < 0.5:
                continue
            rows["detected box, aligned"].append(_cosine(reference, vector(align_face(picture, face, crops.margin))))
            in_box = align_in_box(detector, picture, fec_box, crops.margin)
            if in_box is not None:
                rows["FEC box, aligned (--align)"].append(_cosine(reference, vector(in_box)))
            if previous is not None:
                rows["box crops of different faces"].append(_cosine(reference, previous))
            previous = reference
    return [f"{label:<34} cosine mean {statistics.mean(values):.3f} min {min(values):.3f} (n={len(values)})"
            for label, values in rows.items() if values] + [f"(face size {crops.size}, margin {crops.margin})"]


def _face_pictures(composites: int):
    for name, known in PHOTO_FACES.items():
        yield photo(name), known
    for seed in range(composites):
        yield composite(seed)


def _cosine(first: np.ndarray, second: np.ndarray) -> float:
    return float(first @ second / (np.linalg.norm(first) * np.linalg.norm(second)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default="mtcnn", help="a fec.detect detector, or opencv-haar (comparison only)")
    parser.add_argument("--composites", type=int, default=10)
    parser.add_argument("--checkpoint", help="a fec-train checkpoint: also report embedding agreement")
    args = parser.parse_args(argv)
    try:
        detector = HaarDetector() if args.detector == "opencv-haar" else create_detector(args.detector)
        import torch

        print(f"detector {args.detector}, torch threads {torch.get_num_threads()}")
        for label, tally in quality(detector, args.composites).items():
            print(tally.line(label))
        if args.checkpoint and args.detector != "opencv-haar":
            print("\n".join(embedding_agreement(args.checkpoint, detector, args.composites)))
    except FecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
