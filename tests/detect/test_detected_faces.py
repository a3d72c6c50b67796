"""DetectedFace records and the bridge between detector pixels and FEC-style normalised boxes."""

from __future__ import annotations

import json

import pytest

from fec.detect import DetectedFace, face_box, iou, pixel_box
from fec.errors import DataError
from fec.preprocessing import FaceBox

FACE = DetectedFace((10.0, 20.0, 50.0, 80.0), ((20, 40), (40, 42), (30, 55), (22, 65), (38, 66)), 0.987654321)


def test_to_dict_is_json_with_named_landmarks():
    payload = json.loads(json.dumps(FACE.to_dict()))
    assert payload == {"box": [10.0, 20.0, 50.0, 80.0], "score": 0.98765,
                       "landmarks": {"left_eye": [20, 40], "right_eye": [40, 42], "nose": [30, 55],
                                     "mouth_left": [22, 65], "mouth_right": [38, 66]}}


def test_face_box_normalises_by_width_and_height_and_clips():
    assert face_box(FACE, (100, 200)) == FaceBox(0.1, 0.5, 0.1, 0.4)
    overhanging = DetectedFace((-5.0, 150.0, 120.0, 210.0), FACE.landmarks, 0.9)
    assert face_box(overhanging, (100, 200)) == FaceBox(0.0, 1.0, 0.75, 1.0)
    assert pixel_box(face_box(FACE, (100, 200)), (100, 200)) == pytest.approx(FACE.box)


def test_face_box_outside_the_picture_is_a_data_error():
    with pytest.raises(DataError, match="outside the 100x200 picture"):
        face_box(DetectedFace((120.0, 20.0, 150.0, 80.0), FACE.landmarks, 0.9), (100, 200))


def test_shifted_moves_box_and_landmarks():
    moved = FACE.shifted(5, -10)
    assert moved.box == (15.0, 10.0, 55.0, 70.0) and moved.eyes == ((25, 30), (45, 32)) and moved.score == FACE.score


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
