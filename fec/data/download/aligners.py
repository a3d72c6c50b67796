"""Face alignment plug-ins (--align): finding one by name and checking its package is installed."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from fec.data.face_store import Aligner
from fec.data.triplets import FaceBox
from fec.errors import DataError
from fec.preprocessing import crop_box

ALIGNER_ENTRY_POINTS = "fec.aligners"


@dataclass(frozen=True)
class KnownAligner:
    module: str
    package: str
    factory: Callable[[], Aligner]


def _mtcnn_aligner() -> Aligner:
    """facenet-pytorch's MTCNN: find the eyes inside the box, level them, crop the box again."""
    import numpy as np
    from facenet_pytorch import MTCNN

    detector = MTCNN(keep_all=True, post_process=False, device="cpu")
    lock = threading.Lock()  # one detector shared by the worker threads

    def align(picture: Image.Image, box: FaceBox, margin: float) -> Image.Image | None:
        region = crop_box(picture, box, margin)
        with lock:
            boxes, _, landmarks = detector.detect(region, landmarks=True)
        if boxes is None or landmarks is None or len(boxes) == 0:
            return None
        areas = (np.asarray(boxes)[:, 2] - np.asarray(boxes)[:, 0]) * (np.asarray(boxes)[:, 3] - np.asarray(boxes)[:, 1])
        (x1, y1), (x2, y2) = np.asarray(landmarks)[int(np.argmax(areas))][:2]
        left, top = _crop_origin(picture, box, margin)
        centre = (left + (x1 + x2) / 2, top + (y1 + y2) / 2)
        angle = math.degrees(math.atan2(y2 - y1, x2 - x1))
        return crop_box(picture.rotate(angle, resample=Image.BICUBIC, center=centre), box, margin)

    return align


def _crop_origin(picture: Image.Image, box: FaceBox, margin: float) -> tuple[int, int]:
    """Top-left pixel of `crop_box(picture, box, margin)` in the picture."""
    width, height = picture.size
    left = max(0.0, box.left - margin * (box.right - box.left)) * width
    top = max(0.0, box.top - margin * (box.bottom - box.top)) * height
    return round(left), round(top)


KNOWN_ALIGNERS = {"mtcnn": KnownAligner("facenet_pytorch", "facenet-pytorch", _mtcnn_aligner)}


def load_aligner(spec: str) -> Aligner:
    """A known name (mtcnn), an installed `fec.aligners` entry point, or `module:factory`; the factory
    returns `align(picture, box, margin) -> face image or None`. Missing packages are named."""
    if spec in KNOWN_ALIGNERS:
        known = KNOWN_ALIGNERS[spec]
        _require(known.module, known.package, spec)
        return known.factory()
    for entry in importlib.metadata.entry_points(group=ALIGNER_ENTRY_POINTS):
        if entry.name == spec:
            return entry.load()()
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        module = _require(module_name, module_name.split(".")[0], spec)
        factory = getattr(module, attribute, None)
        if not callable(factory):
            raise DataError(f"--align {spec}: {module_name} has no callable {attribute!r}")
        return factory()
    names = ", ".join(sorted(KNOWN_ALIGNERS))
    raise DataError(f"--align {spec}: unknown aligner (known: {names}; or an installed {ALIGNER_ENTRY_POINTS} entry point, "
                    "or module:factory)")


def _require(module_name: str, package: str, spec: str):
    try:
        found = importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise DataError(f"--align {spec} needs the package {package}, which is not installed (pip install {package})")
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise DataError(f"--align {spec}: {package} is installed but does not import ({exc})") from None
