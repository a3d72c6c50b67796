"""The box convention: fitting four numbers from (detected, dataset) box pairs, applying them, reading them safely."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fec.detect.convention import (
    MIN_FIT_FACES,
    BoxConvention,
    box_shape,
    fit_box_convention,
    read_box_convention,
    write_box_convention,
)
from fec.errors import DataError
from fec.preprocessing import FaceBox

SYNTH_LIKE = BoxConvention(offset_x=-0.01, offset_y=-0.07, scale_x=1.5, scale_y=1.17, faces=115)


def random_boxes(count: int, seed: int = 0) -> list[tuple[float, float, float, float]]:
    rng = np.random.default_rng(seed)
    x1, y1 = rng.uniform(0, 200, count), rng.uniform(0, 200, count)
    width, height = rng.uniform(30, 120, count), rng.uniform(30, 120, count)
    return [tuple(map(float, box)) for box in zip(x1, y1, x1 + width, y1 + height)]


def test_pixel_box_moves_and_scales_about_the_detected_centre():
    assert SYNTH_LIKE.pixel_box((100, 100, 200, 300)) == pytest.approx((74.0, 69.0, 224.0, 303.0))
    assert BoxConvention().pixel_box((10, 20, 30, 60)) == (10, 20, 30, 60)


def test_box_shape_inverts_pixel_box():
    for detected in random_boxes(20):
        shape = box_shape(detected, SYNTH_LIKE.pixel_box(detected))
        assert shape == pytest.approx((-0.01, -0.07, 1.5, 1.17))


def test_fit_recovers_the_convention_and_ignores_a_few_wild_boxes():
    detected = random_boxes(40)
    pairs = [(box, SYNTH_LIKE.pixel_box(box)) for box in detected]
    wild = [(box, (0.0, 0.0, 400.0, 400.0)) for box in random_boxes(8, seed=1)]  # a hand, a poster: not the face
    fitted = fit_box_convention(pairs + wild, "mtcnn")
    assert (fitted.offset_x, fitted.offset_y, fitted.scale_x, fitted.scale_y) == pytest.approx((-0.01, -0.07, 1.5, 1.17))
    assert fitted.faces == 48 and fitted.detector == "mtcnn"


def test_fit_refuses_too_few_faces_with_the_count():
    pairs = [(box, box) for box in random_boxes(MIN_FIT_FACES - 1)]
    with pytest.raises(DataError, match=f"only {MIN_FIT_FACES - 1} faces were found inside their boxes; .* at least "
                                        f"{MIN_FIT_FACES}"):
        fit_box_convention(pairs, "mtcnn")


def test_face_box_is_normalised_and_clipped_to_the_picture():
    box = SYNTH_LIKE.face_box((10, 10, 60, 60), (100, 200))  # x -3..72, y 2.25..60.75: runs off the left edge
    assert box == FaceBox(0.0, pytest.approx(0.72), pytest.approx(0.01125), pytest.approx(0.30375))
    with pytest.raises(DataError, match=r"face box .* lies outside the 100x200 picture"):
        BoxConvention().face_box((150, 10, 190, 60), (100, 200))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("scale_x", 0, r"scale_x 0 is not a number in \[0.25, 4.0\]"),
    ("scale_y", "1.2", r"scale_y '1.2' is not a number"),
    ("offset_x", True, r"offset_x True is not a number"),
    ("offset_y", math.nan, r"offset_y nan is not a number"),
    ("offset_y", 3.0, r"offset_y 3.0 is not a number in \[-1.0, 1.0\]"),
    ("faces", -1, r"faces -1 is not a count"),
    ("detector", "", r"detector '' is not a detector name"),
    ("origin", "x", r"unknown fields \['origin'\]"),
])
def test_untrusted_values_are_refused_naming_the_field(field, value, message):
    with pytest.raises(DataError, match=f"^ckpt: box convention {message}" if field != "origin" else f"^ckpt: .*{message}"):
        BoxConvention.from_dict({**SYNTH_LIKE.to_dict(), field: value}, "ckpt")


@pytest.mark.parametrize("field", ["offset_x", "offset_y", "scale_x", "scale_y", "detector"])
def test_a_missing_field_is_refused_not_filled_with_the_identity(field):
    payload = {name: value for name, value in SYNTH_LIKE.to_dict().items() if name != field}
    with pytest.raises(DataError) as error:
        BoxConvention.from_dict(payload, "ckpt")
    assert str(error.value) == f"ckpt: box convention has no {field}; write it again with fec-data fit-boxes"
    without_count = {name: value for name, value in SYNTH_LIKE.to_dict().items() if name != "faces"}
    assert BoxConvention.from_dict(without_count, "ckpt").faces == 0  # only reports the fit


def test_a_convention_of_another_detector_is_refused_for_its_boxes():
    from fec.detect.convention import require_detector

    assert require_detector(SYNTH_LIKE, "mtcnn", "x.json") == SYNTH_LIKE and require_detector(None, "mtcnn", "x") is None
    with pytest.raises(DataError) as error:
        require_detector(BoxConvention(detector="haar"), "mtcnn", "x.json")
    assert str(error.value) == ("x.json: the box convention was fitted on haar boxes, but faces here are found by mtcnn, "
                                "which draws its boxes elsewhere; fit one with fec-data fit-boxes --detector mtcnn, or "
                                "give --box-convention none")


def test_recorded_reads_a_payload_and_none_when_absent():
    assert BoxConvention.recorded({"box_convention": SYNTH_LIKE.to_dict()}, "ckpt") == SYNTH_LIKE
    assert BoxConvention.recorded({"box_convention": None}, "ckpt") is None
    assert BoxConvention.recorded(None, "ckpt") is None
    with pytest.raises(DataError, match="^ckpt: box convention must be a mapping, got list"):
        BoxConvention.recorded({"box_convention": [1, 2]}, "ckpt")


def test_file_round_trip_keeps_the_fit_facts_for_people(tmp_path):
    path = tmp_path / "box_convention.json"
    write_box_convention(path, SYNTH_LIKE, {"sampled": 150, "found": 115, "no_picture": 0})
    assert json.loads(path.read_text())["fit"] == {"sampled": 150, "found": 115, "no_picture": 0}
    assert read_box_convention(path) == SYNTH_LIKE
    assert not list(tmp_path.glob("*.tmp*"))


def test_a_missing_or_broken_file_is_one_line(tmp_path):
    with pytest.raises(DataError, match=r"box_convention.json: no box convention file \(write one with fec-data fit-boxes\)"):
        read_box_convention(tmp_path / "box_convention.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(DataError, match=r"broken.json: unreadable box convention file"):
        read_box_convention(broken)
    broken.write_text("[]")
    with pytest.raises(DataError, match=r"broken.json: box convention must be a mapping"):
        read_box_convention(broken)
