"""How far MTCNN's box is from a dataset's box convention, and what mapping one onto the other does to the
embedding (issue 16's open part: a detected face and a box crop of the same face should embed alike).

    python benchmarks/box_convention_probe.py --checkpoint runs/demo/best.pt [--fit 10 --test 10]

On lfw composites (benchmarks/detection_quality.py), where each face's box is the pasted tile: the mean
offset and scale from MTCNN's box to the tile are fitted on the first --fit composites, then applied to
the faces of the next --test ones. Prints the fit and the cosine between each face's box crop and its
detected-and-aligned crop, with MTCNN's box as is and mapped. A probe, not a feature: the mapping for a
real dataset would be fitted on its own boxes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
import detection_quality  # noqa: E402  (the composites)

from fec.data.dataset import FaceCrops  # noqa: E402
from fec.detect import align_face, create_detector, iou  # noqa: E402
from fec.evaluate import torch_embedder  # noqa: E402
from fec.models.checkpoint import model_from_checkpoint  # noqa: E402
from fec.preprocessing import FaceBox, crop_box, resize_uint8  # noqa: E402


def matched_faces(detector, seeds: range):
    """(picture, tile box, detected face, offsets and scales of the tile relative to the detected box)."""
    for seed in seeds:
        picture, known = detection_quality.composite(seed)
        found = detector.detect(picture)
        for box in known:
            face = max(found, key=lambda item: iou(item.box, box), default=None)
            if face is None or iou(face.box, box) < 0.5:
                continue
            x1, y1, x2, y2 = face.box
            width, height = x2 - x1, y2 - y1
            shape = (((box[0] + box[2]) - (x1 + x2)) / 2 / width, ((box[1] + box[3]) - (y1 + y2)) / 2 / height,
                     (box[2] - box[0]) / width, (box[3] - box[1]) / height)
            yield picture, box, face, shape


def mapped_box(face, picture: Image.Image, mapping: tuple[float, float, float, float]) -> FaceBox:
    dx, dy, scale_w, scale_h = mapping
    x1, y1, x2, y2 = face.box
    width, height = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2 + dx * width, (y1 + y2) / 2 + dy * height
    return FaceBox((cx - scale_w * width / 2) / picture.width, (cx + scale_w * width / 2) / picture.width,
                   (cy - scale_h * height / 2) / picture.height, (cy + scale_h * height / 2) / picture.height)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--fit", type=int, default=10)
    parser.add_argument("--test", type=int, default=10)
    args = parser.parse_args()
    detector = create_detector("mtcnn")
    model, prep, payload = model_from_checkpoint(args.checkpoint)
    crops = FaceCrops.recorded(payload.get("config"))
    embed = torch_embedder(model, prep)

    def vector(face: Image.Image) -> np.ndarray:
        stored = face.resize((crops.size, crops.size), Image.BICUBIC)
        return embed(np.array(resize_uint8(stored, prep.input_size))[None])[0]

    fitted = [shape for *_, shape in matched_faces(detector, range(args.fit))]
    mapping = tuple(statistics.mean(values) for values in zip(*fitted))
    spread = tuple(statistics.stdev(values) for values in zip(*fitted))
    print(f"fit on {len(fitted)} faces: centre offset x {mapping[0]:+.3f} y {mapping[1]:+.3f} (of the box), "
          f"scale w {mapping[2]:.3f} h {mapping[3]:.3f}; sd {', '.join(f'{value:.3f}' for value in spread)}")
    as_is, mapped = [], []
    for picture, box, face, _ in matched_faces(detector, range(args.fit, args.fit + args.test)):
        tile = FaceBox(box[0] / picture.width, box[2] / picture.width, box[1] / picture.height, box[3] / picture.height)
        reference = vector(crop_box(picture, tile, crops.margin))
        for found, values in ((None, as_is), (mapped_box(face, picture, mapping), mapped)):
            other = vector(align_face(picture, face, crops.margin, box=found))
            values.append(float(reference @ other / np.linalg.norm(reference) / np.linalg.norm(other)))
    for label, values in (("MTCNN box as is", as_is), ("MTCNN box mapped", mapped)):
        print(f"{label:<18} cosine to the box crop: mean {statistics.mean(values):.3f} min {min(values):.3f} "
              f"(n={len(values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
