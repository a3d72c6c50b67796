"""The detector registry: typed errors for unknown names, bad options and missing packages."""

from __future__ import annotations

import sys

import pytest

from fec.detect import create_detector, list_detectors, missing_package
from fec.errors import DataError, DetectorError

SAFE_INSTALL = "pip install --no-deps facenet-pytorch requests"


def test_mtcnn_is_registered():
    assert "mtcnn" in list_detectors()


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(DetectorError, match=r"unknown face detector 'wobble'; available: .*mtcnn"):
        create_detector("wobble")


def test_missing_package_is_one_line_with_the_safe_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)  # as if not installed
    with pytest.raises(DetectorError) as caught:
        create_detector("mtcnn")
    message = str(caught.value)
    assert "\n" not in message and SAFE_INSTALL in message and "facenet-pytorch" in message
    assert missing_package("mtcnn") == message
    assert isinstance(caught.value, DataError)  # the CLI's user errors, one line and exit 2


@pytest.mark.parametrize("options, fragment", [({"min_score": 1.5}, "min_score"), ({"min_face_size": 5}, "min_face_size"),
                                               ({"colour": "red"}, "bad option")])
def test_bad_options_are_typed(mtcnn, options, fragment):
    with pytest.raises(DetectorError, match=fragment):
        create_detector("mtcnn", **options)
