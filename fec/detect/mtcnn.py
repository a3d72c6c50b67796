"""MTCNN (facenet-pytorch): the default face detector.

Chosen over OpenCV's Haar cascades after a comparison on real faces (benchmarks/FIGURES.md, "Face
detection"): it found every face with a better-fitting box and gives the five landmarks alignment needs.
Its weights ship inside the facenet-pytorch wheel, so nothing is downloaded at run time. That wheel pins
torch<2.3, so it is installed with --no-deps (its MTCNN runs on our torch).
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
from PIL import Image

from fec.detect.faces import DetectedFace, faces_from_arrays
from fec.detect.registry import FaceDetector, register_detector
from fec.errors import DetectorError

INSTALL = "pip install --no-deps facenet-pytorch requests (plain `pip install facenet-pytorch` would downgrade torch)"
SMALLEST_FACE = 12  # MTCNN's first stage looks at 12x12 windows; it fails on pictures smaller than its window


@register_detector("mtcnn", package="facenet-pytorch", module="facenet_pytorch", install=INSTALL)
class MtcnnDetector(FaceDetector):
    """facenet-pytorch's MTCNN on the CPU, every face kept; faces under `min_score` or smaller than
    `min_face_size` pixels are dropped."""

    name = "mtcnn"

    def __init__(self, min_score: float = 0.9, min_face_size: int = 20):
        if not 0.0 <= min_score <= 1.0:
            raise DetectorError(f"face detector mtcnn: min_score must be in [0, 1], got {min_score}")
        if isinstance(min_face_size, bool) or not isinstance(min_face_size, int) or min_face_size < SMALLEST_FACE:
            raise DetectorError(f"face detector mtcnn: min_face_size must be a whole number of pixels >= {SMALLEST_FACE}, "
                                f"got {min_face_size!r}")
        self.min_score = min_score
        self.min_face_size = min_face_size
        self._model = _load_mtcnn(min_face_size)
        self._lock = threading.Lock()  # the model keeps no per-call state we know of, but make sharing certain

    def detect(self, picture: Image.Image) -> list[DetectedFace]:
        """Every face of at least `min_face_size` pixels scored `min_score` or more, best first."""
        if min(picture.size) < self.min_face_size:
            return []  # MTCNN itself fails on a picture smaller than the smallest face it looks for
        with self._lock:
            boxes, scores, landmarks = self._model.detect(picture.convert("RGB"), landmarks=True)
        if boxes is None or landmarks is None:
            return []
        faces = faces_from_arrays(np.asarray(boxes, float), np.asarray(scores, float), np.asarray(landmarks, float))
        return sorted((face for face in faces if face.score >= self.min_score), key=lambda face: -face.score)


def _load_mtcnn(min_face_size: int):
    """The MTCNN model, its weights read from inside the wheel. Importing facenet-pytorch imports requests,
    which warns when its optional charset packages are absent: noise here, since nothing is downloaded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from facenet_pytorch import MTCNN
    except ImportError as exc:
        raise DetectorError(f"face detector mtcnn: facenet-pytorch is installed but does not import ({exc}); {INSTALL}") from None
    return MTCNN(keep_all=True, post_process=False, min_face_size=min_face_size, device="cpu")
