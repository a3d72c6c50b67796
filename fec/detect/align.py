"""Face alignment: level the eyes, then crop exactly as training crops an FEC box.

Training crops a normalised box grown by the recorded margin (`fec.preprocessing.crop_pixels`) and
resizes it to a square face (bicubic, as the face store does). A detected face is cropped by the same rule
after the picture is turned about the eye midpoint until the eyes are level, so that a detected-and-aligned
face and an FEC-box crop of the same face look (and embed) alike. Only the output pixels are computed: one
affine resample of the crop, never a rotation of the whole picture.
"""

from __future__ import annotations

import math

from PIL import Image

from fec.detect.faces import DetectedFace, face_box, iou, pixel_box
from fec.detect.registry import FaceDetector
from fec.preprocessing import FaceBox, crop_pixels

CONTEXT_MARGIN = 0.5  # align_in_box looks for the face in the box grown by this much, for the detector's sake


def eye_angle(face: DetectedFace) -> float:
    """How far the eye line turns clockwise (as seen) from level, in degrees."""
    (x1, y1), (x2, y2) = face.eyes
    return math.degrees(math.atan2(y2 - y1, x2 - x1))


def align_face(picture: Image.Image, face: DetectedFace, margin: float = 0.0, size: int | None = None,
               box: FaceBox | None = None) -> Image.Image:
    """The face with level eyes, cropped like training crops a box with `margin`, resized to `size` x `size`
    when given. `box` (normalised) is what is cropped, default the detected box; it turns with the picture
    about the eye midpoint, so it stays on the face."""
    box = box or face_box(face, picture.size)
    angle = math.radians(eye_angle(face))
    (ex1, ey1), (ex2, ey2) = face.eyes
    centre = ((ex1 + ex2) / 2, (ey1 + ey2) / 2)
    levelled = _turned_box(box, picture.size, centre, -angle)
    left, top, right, bottom = crop_pixels(picture.size, levelled, margin)
    cos, sin = math.cos(angle), math.sin(angle)
    # output pixel (u, v) -> levelled-picture point (left + u, top + v) -> turned back by +angle about centre
    dx, dy = left - centre[0], top - centre[1]
    coefficients = (cos, -sin, cos * dx - sin * dy + centre[0], sin, cos, sin * dx + cos * dy + centre[1])
    crop = picture.convert("RGB").transform((right - left, bottom - top), Image.AFFINE, coefficients,
                                            resample=Image.BICUBIC)
    return crop.resize((size, size), resample=Image.BICUBIC) if size else crop


def _turned_box(box: FaceBox, picture_size: tuple[int, int], centre: tuple[float, float], angle: float) -> FaceBox:
    """`box` with its centre turned by `angle` (radians, clockwise as seen) about `centre`; same size."""
    width, height = picture_size
    x1, y1, x2, y2 = pixel_box(box, picture_size)
    offset_x, offset_y = (x1 + x2) / 2 - centre[0], (y1 + y2) / 2 - centre[1]
    middle_x = centre[0] + math.cos(angle) * offset_x - math.sin(angle) * offset_y
    middle_y = centre[1] + math.sin(angle) * offset_x + math.cos(angle) * offset_y
    half_w, half_h = (box.right - box.left) / 2, (box.bottom - box.top) / 2
    return FaceBox(middle_x / width - half_w, middle_x / width + half_w, middle_y / height - half_h, middle_y / height + half_h)


def face_in_box(detector: FaceDetector, picture: Image.Image, box: FaceBox) -> DetectedFace | None:
    """The detected face an FEC box holds: both eyes inside the box, best overlap first; None if no such face.
    Only the box and some context around it are searched (a big picture costs what its face costs)."""
    left, top, right, bottom = crop_pixels(picture.size, box, CONTEXT_MARGIN)
    faces = [face.shifted(left, top) for face in detector.detect(picture.crop((left, top, right, bottom)))]
    x1, y1, x2, y2 = wanted = pixel_box(box, picture.size)
    inside = [face for face in faces if all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face.eyes)]
    return max(inside, key=lambda face: iou(face.box, wanted), default=None)


def align_in_box(detector: FaceDetector, picture: Image.Image, box: FaceBox, margin: float = 0.0) -> Image.Image | None:
    """An FEC box's face with level eyes, cropped by the same box and margin (not resized); None when the
    detector finds no face in the box, so callers can fall back to the plain crop."""
    face = face_in_box(detector, picture, box)
    return None if face is None else align_face(picture, face, margin, box=box)
