"""Face detection and alignment, for users who have photos rather than face crops.

    detector = create_detector("mtcnn")                 # typed error naming the safe install when missing
    faces = detector.detect(picture)                    # [DetectedFace(box, landmarks, score)], best first
    crop = align_face(picture, faces[0], margin, size)  # eyes level, cropped like training crops a box

A registry like the models' (registry.py): a new detector is one module plus one import here. This layer
sits on the foundations only, so the data pipeline (`fec-data download --align`), embedding and serving
can all use it.
"""

from fec.detect import mtcnn  # noqa: F401  (registers "mtcnn")
from fec.detect.align import align_face, align_in_box, eye_angle, face_in_box
from fec.detect.faces import LANDMARK_NAMES, DetectedFace, face_box, faces_as_arrays, faces_from_arrays, iou, pixel_box
from fec.detect.registry import (
    DEFAULT_DETECTOR,
    FaceDetector,
    create_detector,
    list_detectors,
    missing_package,
    register_detector,
)

__all__ = ["DEFAULT_DETECTOR", "LANDMARK_NAMES", "DetectedFace", "FaceDetector", "align_face", "align_in_box",
           "create_detector", "eye_angle", "face_box", "face_in_box", "faces_as_arrays", "faces_from_arrays", "iou",
           "list_detectors", "missing_package", "pixel_box", "register_detector"]
