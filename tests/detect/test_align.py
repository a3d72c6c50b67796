"""align_face: eyes level afterwards, cropped and sized exactly like a training crop of the same box."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import PHOTO_FACES, photo
from PIL import Image

from fec.detect import DetectedFace, align_face, align_in_box, eye_angle, face_box
from fec.preprocessing import FaceBox, crop_box, crop_pixels

EYE_MIDPOINT = (226, 103)  # the astronaut's


def turned_astronaut(degrees: float) -> Image.Image:
    """The astronaut turned `degrees` counter-clockwise (as seen) about her eyes."""
    return photo("astronaut").rotate(degrees, resample=Image.BICUBIC, center=EYE_MIDPOINT)


def grey(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture.convert("L"), dtype=float)


@pytest.mark.parametrize("degrees", [-25, 20])
def test_a_turned_face_comes_out_level(mtcnn, degrees):
    picture = turned_astronaut(degrees)
    (face,) = mtcnn.detect(picture)
    assert abs(eye_angle(face) + degrees) < 5  # the detector sees the turn
    aligned = align_face(picture, face, margin=0.2, size=160)
    (again,) = mtcnn.detect(aligned)
    assert abs(eye_angle(again)) < 4


def test_a_turned_copy_aligns_like_the_original(mtcnn):
    """Aligned, a turned copy correlates with the aligned original (0.85 measured) far better than its plain
    crop does (0.44): what is left is the detector's box moving a little."""
    original = photo("astronaut")
    (face,) = mtcnn.detect(original)
    reference = grey(align_face(original, face, margin=0.1, size=96)).ravel()
    turned = turned_astronaut(20)
    (face,) = mtcnn.detect(turned)
    aligned = grey(align_face(turned, face, margin=0.1, size=96)).ravel()
    plain = grey(crop_box(turned, face_box(face, turned.size), 0.1).resize((96, 96), Image.BICUBIC)).ravel()
    aligned_r, plain_r = np.corrcoef(reference, aligned)[0, 1], np.corrcoef(reference, plain)[0, 1]
    assert aligned_r > 0.75 and aligned_r > plain_r + 0.25, (aligned_r, plain_r)


def test_level_eyes_give_exactly_the_training_crop():
    """With level eyes alignment is the identity: the same pixels as crop_box + the face store's resize."""
    picture = photo("astronaut")
    face = DetectedFace((181.0, 62.0, 268.0, 172.0), ((205, 102), (247, 102), (225, 129), (202, 139), (245, 142)), 1.0)
    box = face_box(face, picture.size)
    for margin in (0.0, 0.25):
        training = crop_box(picture, box, margin)
        assert np.array_equal(np.asarray(align_face(picture, face, margin)), np.asarray(training))
        sized = align_face(picture, face, margin, size=64)
        assert sized.size == (64, 64)
        assert np.array_equal(np.asarray(sized), np.asarray(training.resize((64, 64), Image.BICUBIC)))


def test_align_in_box_keeps_the_fec_box_and_margin(mtcnn):
    picture = turned_astronaut(15)
    x1, y1, x2, y2 = PHOTO_FACES["astronaut"]
    box = FaceBox(x1 / 512, x2 / 512, y1 / 512, y2 / 512)
    aligned = align_in_box(mtcnn, picture, box, margin=0.1)
    left, top, right, bottom = crop_pixels(picture.size, box, 0.1)
    assert aligned.size == (right - left, bottom - top)
    (again,) = mtcnn.detect(aligned)
    assert abs(eye_angle(again)) < 4


def test_align_in_box_without_a_face_is_none(mtcnn):
    assert align_in_box(mtcnn, photo("coffee"), FaceBox(0.2, 0.6, 0.2, 0.6), margin=0.1) is None
