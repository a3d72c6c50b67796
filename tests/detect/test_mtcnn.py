"""The real MTCNN on real faces: one face in each photo, four in a composite, none in photos without faces."""

from __future__ import annotations

import pytest
from helpers import PHOTO_FACES, four_face_photo, photo
from PIL import Image

from fec.detect import LANDMARK_NAMES, iou


@pytest.mark.parametrize("name", sorted(PHOTO_FACES))
def test_one_face_in_each_photo(mtcnn, name):
    faces = mtcnn.detect(photo(name))
    assert len(faces) == 1
    assert iou(faces[0].box, PHOTO_FACES[name]) >= 0.5 and faces[0].score > 0.99
    x1, y1, x2, y2 = faces[0].box
    (left_x, left_y), (right_x, right_y) = faces[0].eyes
    assert x1 < left_x < right_x < x2 and y1 < left_y < y2 and y1 < right_y < y2
    assert len(faces[0].landmarks) == len(LANDMARK_NAMES)


def test_four_pasted_faces_are_found_where_they_were_put(mtcnn):
    picture, places = four_face_photo()
    faces = mtcnn.detect(picture)
    assert len(faces) == 4
    best = [max(iou(face.box, place) for face in faces) for place in places]
    assert min(best) >= 0.5, best
    assert [face.score for face in faces] == sorted((face.score for face in faces), reverse=True)


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_no_face_in_photos_without_one(mtcnn, name):
    assert mtcnn.detect(photo(name)) == []


def test_pictures_smaller_than_the_smallest_face_have_none(mtcnn):
    assert mtcnn.detect(Image.new("RGB", (5, 5))) == [] and mtcnn.detect(Image.new("RGB", (19, 300))) == []


def test_grey_pictures_are_read_as_rgb(mtcnn):
    faces = mtcnn.detect(photo("astronaut").convert("L"))
    assert len(faces) == 1 and iou(faces[0].box, PHOTO_FACES["astronaut"]) >= 0.5
