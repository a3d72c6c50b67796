"""A dataset's box convention: where its face boxes sit relative to a detector's box around the same face.

Every source of face boxes draws them its own way. FEC's boxes, the synthetic dataset's tiles and MTCNN's
boxes differ in centre and size (MTCNN's synthetic-face box is about 2/3 as wide as the dataset's box and
sits lower), and a model only ever saw crops of its training data's boxes. A detected face cropped by the
detector's own box therefore embeds unlike the same face cropped by its dataset box
(benchmarks/README.md, "Detected faces and the training box convention").

`BoxConvention` is that difference as four numbers, each relative to the detected box: the centre offset
along x and y, and the width and height ratios. It is fitted once per dataset (`fec-data fit-boxes`:
the detector run inside each dataset box), recorded with the model by fec-train, carried by exports, and
applied wherever a detected face is cropped for the model (`fec-embed --detect`, the served photo model).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from fec.detect.faces import normalised_box
from fec.detect.registry import DEFAULT_DETECTOR
from fec.errors import DataError
from fec.io import read_json, write_json
from fec.preprocessing import FaceBox

PixelBox = tuple[float, float, float, float]  # x1, y1, x2, y2
MAX_OFFSET = 1.0  # centre offsets beyond one box side are not a convention but a different face
SCALE_RANGE = (0.25, 4.0)
MIN_FIT_FACES = 20  # fewer matched faces than this do not fit four numbers reliably
CONVENTION_FILE = "box_convention.json"  # beside a training CSV, where fec-train looks for it
REQUIRED_FIELDS = ("offset_x", "offset_y", "scale_x", "scale_y", "detector")  # `faces` only reports the fit


@dataclass(frozen=True)
class BoxConvention:
    """dataset box = the detected box moved by (offset_x, offset_y) of its size and scaled by (scale_x, scale_y)."""

    offset_x: float = 0.0
    offset_y: float = 0.0
    scale_x: float = 1.0
    scale_y: float = 1.0
    detector: str = DEFAULT_DETECTOR
    faces: int = 0  # how many faces it was fitted on (0: not fitted, the identity)

    def pixel_box(self, detected: PixelBox) -> PixelBox:
        """The dataset-style box of a detected box, in the same pixels (unclipped)."""
        x1, y1, x2, y2 = detected
        width, height = x2 - x1, y2 - y1
        centre_x, centre_y = (x1 + x2) / 2 + self.offset_x * width, (y1 + y2) / 2 + self.offset_y * height
        half_w, half_h = self.scale_x * width / 2, self.scale_y * height / 2
        return centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h

    def face_box(self, detected: PixelBox, picture_size: tuple[int, int]) -> FaceBox:
        """The dataset-style box of a detected box, normalised and clipped to the picture."""
        return normalised_box(self.pixel_box(detected), picture_size)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload, source: str) -> BoxConvention:
        """From a file, checkpoint or manifest (untrusted): DataError naming `source` and the field."""
        if not isinstance(payload, dict):
            raise DataError(f"{source}: box convention must be a mapping, got {type(payload).__name__}")
        unknown = set(payload) - set(cls.__dataclass_fields__)
        if unknown:
            raise DataError(f"{source}: box convention has unknown fields {sorted(unknown)}")
        missing = [name for name in REQUIRED_FIELDS if name not in payload]
        if missing:  # the identity in its place would crop faces unlike training, without a word
            raise DataError(f"{source}: box convention has no {', '.join(missing)}; write it again with fec-data "
                            "fit-boxes")
        values = {**asdict(cls()), **payload}
        for name, low, high in (("offset_x", -MAX_OFFSET, MAX_OFFSET), ("offset_y", -MAX_OFFSET, MAX_OFFSET),
                                ("scale_x", *SCALE_RANGE), ("scale_y", *SCALE_RANGE)):
            value = values[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise DataError(f"{source}: box convention {name} {value!r} is not a number in [{low}, {high}]")
        if not isinstance(values["detector"], str) or not values["detector"]:
            raise DataError(f"{source}: box convention detector {values['detector']!r} is not a detector name")
        if isinstance(values["faces"], bool) or not isinstance(values["faces"], int) or values["faces"] < 0:
            raise DataError(f"{source}: box convention faces {values['faces']!r} is not a count")
        return cls(*(float(values[name]) for name in ("offset_x", "offset_y", "scale_x", "scale_y")),
                   values["detector"], values["faces"])

    @classmethod
    def recorded(cls, record: dict | None, source: str) -> BoxConvention | None:
        """The convention a checkpoint payload or an export's provenance records under `box_convention`, if any."""
        value = (record or {}).get("box_convention")
        return None if value is None else cls.from_dict(value, source)

    def describe(self) -> str:
        return (f"{self.detector} box moved by ({self.offset_x:+.3f}, {self.offset_y:+.3f}) of its size and scaled by "
                f"({self.scale_x:.3f}, {self.scale_y:.3f}), fitted on {self.faces} faces")


def box_shape(detected: PixelBox, dataset: PixelBox) -> tuple[float, float, float, float]:
    """The four numbers that take `detected` onto `dataset`: centre offsets (of the detected size) and scales."""
    x1, y1, x2, y2 = detected
    width, height = x2 - x1, y2 - y1
    if width <= 0 or height <= 0:
        raise ValueError(f"detected box {detected} is empty")
    return (((dataset[0] + dataset[2]) - (x1 + x2)) / 2 / width, ((dataset[1] + dataset[3]) - (y1 + y2)) / 2 / height,
            (dataset[2] - dataset[0]) / width, (dataset[3] - dataset[1]) / height)


def fit_box_convention(pairs: Iterable[tuple[PixelBox, PixelBox]], detector: str) -> BoxConvention:
    """The median shape over (detected box, dataset box) pairs of the same faces. Medians, not means: a face
    the detector boxed badly (a partial face, a hand) moves a mean, not a median. DataError when too few."""
    shapes = [box_shape(detected, dataset) for detected, dataset in pairs]
    if len(shapes) < MIN_FIT_FACES:
        raise DataError(f"only {len(shapes)} faces were found inside their boxes; a box convention needs at least "
                        f"{MIN_FIT_FACES} (give more faces, or pictures the {detector} detector can see)")
    medians = [statistics.median(values) for values in zip(*shapes)]
    if not all(math.isfinite(value) for value in medians):
        raise DataError("the fitted box convention is not finite")
    return BoxConvention(*medians, detector=detector, faces=len(shapes))


def read_box_convention(path: str | Path) -> BoxConvention:
    """A convention file (`fec-data fit-boxes`): DataError naming the file when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no box convention file (write one with fec-data fit-boxes)")
    payload = read_json(path, DataError, "box convention file")
    if isinstance(payload, dict):
        payload = {key: value for key, value in payload.items() if key != "fit"}  # what the fit saw: for people
    return BoxConvention.from_dict(payload, str(path))


def chosen_convention(setting: str | None, recorded: BoxConvention | None) -> BoxConvention | None:
    """A command's --box-convention: absent, the model's `recorded` one; `none`, the detector's boxes as they are;
    otherwise a convention file (DataError naming it when unreadable)."""
    if setting is None:
        return recorded
    return None if setting == "none" else read_box_convention(setting)


def require_detector(convention: BoxConvention | None, detector: str, source: str) -> BoxConvention | None:
    """`convention`, refused with DataError naming `source` when it was fitted on another detector's boxes than
    the `detector` that finds the faces it is applied to: each detector draws its boxes its own way."""
    if convention is not None and convention.detector != detector:
        raise DataError(f"{source}: the box convention was fitted on {convention.detector} boxes, but faces here are "
                        f"found by {detector}, which draws its boxes elsewhere; fit one with fec-data fit-boxes "
                        f"--detector {detector}, or give --box-convention none")
    return convention


def write_box_convention(path: str | Path, convention: BoxConvention, facts: dict | None = None) -> None:
    """Write the convention (atomically), with what the fit saw beside it under `fit` (ignored when read)."""
    write_json(path, {**convention.to_dict(), **({"fit": facts} if facts else {})})

