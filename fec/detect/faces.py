"""What a face detector finds in a picture, in pixels, and its normalised FEC-style box.

Detectors report pixels; FEC CSVs, the face store and training crop normalised (left, right, top, bottom)
boxes (`fec.preprocessing.FaceBox`). `face_box` is the one bridge between the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fec.errors import DataError
from fec.preprocessing import FaceBox

# The five landmarks, left and right as seen in the picture (the person's right eye is `left_eye`).
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

Point = tuple[float, float]


@dataclass(frozen=True)
class DetectedFace:
    """One face: its box (x1, y1, x2, y2) and five landmarks in picture pixels, and the detector's score."""

    box: tuple[float, float, float, float]
    landmarks: tuple[Point, Point, Point, Point, Point]
    score: float

    @property
    def eyes(self) -> tuple[Point, Point]:
        return self.landmarks[0], self.landmarks[1]

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    def shifted(self, dx: float, dy: float) -> DetectedFace:
        """The same face in a picture whose origin lies (dx, dy) further up-left (a found face in a crop,
        moved back into the whole picture)."""
        x1, y1, x2, y2 = self.box
        points = tuple((x + dx, y + dy) for x, y in self.landmarks)
        return DetectedFace((x1 + dx, y1 + dy, x2 + dx, y2 + dy), points, self.score)

    def scaled(self, factor: float) -> DetectedFace:
        """The same face in the picture decoded `factor` times as large (a face found at a working size, moved to
        the whole photo's pixels or to a finer decode for cropping)."""
        box = tuple(value * factor for value in self.box)
        return DetectedFace(box, tuple((x * factor, y * factor) for x, y in self.landmarks), self.score)

    def to_dict(self) -> dict:
        """JSON-friendly: pixels rounded to 0.1, the score to 1e-5."""
        return {"box": [round(value, 1) for value in self.box],
                "landmarks": {name: [round(x, 1), round(y, 1)] for name, (x, y) in zip(LANDMARK_NAMES, self.landmarks)},
                "score": round(self.score, 5)}


def faces_as_arrays(faces: list[DetectedFace]) -> dict[str, np.ndarray]:
    """Faces as float32 arrays, the photo model's wire format: boxes (N, 4), scores (N,), landmarks (N, 5, 2)."""
    return {"boxes": np.asarray([face.box for face in faces], np.float32).reshape(-1, 4),
            "scores": np.asarray([face.score for face in faces], np.float32).reshape(-1),
            "landmarks": np.asarray([face.landmarks for face in faces], np.float32).reshape(-1, len(LANDMARK_NAMES), 2)}


def faces_from_arrays(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray) -> list[DetectedFace]:
    """`faces_as_arrays` read back (what a client receives); DataError when the arrays disagree on the count."""
    count = len(scores)
    if np.shape(boxes) != (count, 4) or np.shape(landmarks) != (count, len(LANDMARK_NAMES), 2):
        raise DataError(f"face arrays disagree: boxes {np.shape(boxes)}, scores {np.shape(scores)}, "
                        f"landmarks {np.shape(landmarks)}")
    return [DetectedFace(tuple(float(v) for v in box), tuple((float(x), float(y)) for x, y in points), float(score))
            for box, score, points in zip(boxes, scores, landmarks)]


def face_box(face: DetectedFace, picture_size: tuple[int, int]) -> FaceBox:
    """The detected box as an FEC-style box normalised by the picture's width and height, clipped to it."""
    return normalised_box(face.box, picture_size)


def normalised_box(box: tuple[float, float, float, float], picture_size: tuple[int, int]) -> FaceBox:
    """A pixel box (x1, y1, x2, y2) as an FEC-style box, clipped to the picture; DataError when nothing is left."""
    width, height = picture_size
    x1, y1, x2, y2 = box
    normalised = FaceBox(_unit(x1 / width), _unit(x2 / width), _unit(y1 / height), _unit(y2 / height))
    if normalised.problem():
        raise DataError(f"face box {tuple(round(value, 1) for value in box)} lies outside the {width}x{height} picture")
    return normalised


def pixel_box(box: FaceBox, picture_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """An FEC-style box in pixels (x1, y1, x2, y2), unrounded."""
    width, height = picture_size
    return box.left * width, box.top * height, box.right * width, box.bottom * height


def iou(first: tuple[float, float, float, float], second: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes: how well a found face matches a known one."""
    width = min(first[2], second[2]) - max(first[0], second[0])
    height = min(first[3], second[3]) - max(first[1], second[1])
    inter = max(0.0, width) * max(0.0, height)
    union = _area(first) + _area(second) - inter
    return inter / union if union > 0 else 0.0


def _area(box: tuple[float, float, float, float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _unit(value: float) -> float:
    return min(1.0, max(0.0, value))
