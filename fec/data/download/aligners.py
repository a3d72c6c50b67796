"""Face alignment plug-ins (--align): finding one by name and checking its package is installed."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import threading
from collections.abc import Callable

from PIL import Image

from fec.data.face_store import Aligner
from fec.data.triplets import FaceBox
from fec.detect import align_face, create_detector, face_in_box, pixel_box
from fec.detect.convention import PixelBox
from fec.errors import DataError, DetectorError

ALIGNER_ENTRY_POINTS = "fec.aligners"


class MtcnnAligner:
    """MTCNN (fec.detect): find the face whose eyes lie in the box, level its eyes, crop the box again. Each face
    found is also a (detected box, dataset box) pair for the dataset's box convention (fec.detect.convention),
    which the download fits and writes at the end: aligning already paid for the detection."""

    def __init__(self):
        self.detector = create_detector("mtcnn")  # thread-safe: shared by the download workers
        self.pairs: list[tuple[PixelBox, PixelBox]] = []
        self._lock = threading.Lock()

    def __call__(self, picture: Image.Image, box: FaceBox, margin: float) -> Image.Image | None:
        face = face_in_box(self.detector, picture, box)
        if face is None:
            return None
        with self._lock:
            if len(self.pairs) < MAX_CONVENTION_PAIRS:
                self.pairs.append((face.box, pixel_box(box, picture.size)))
        return align_face(picture, face, margin, box=box)


MAX_CONVENTION_PAIRS = 20_000  # a median over this many faces is settled; memory stays small on 1M-face runs

# name -> factory; each aligns with a fec.detect detector, which names its package and the safe way to install it
KNOWN_ALIGNERS: dict[str, Callable[[], Aligner]] = {"mtcnn": MtcnnAligner}


def load_aligner(spec: str) -> Aligner:
    """A known name (mtcnn), an installed `fec.aligners` entry point, or `module:factory`; the factory
    returns `align(picture, box, margin) -> face image or None`. Missing packages are named."""
    if spec in KNOWN_ALIGNERS:
        try:
            return KNOWN_ALIGNERS[spec]()
        except DetectorError as exc:
            raise DetectorError(f"--align {spec}: {exc}") from None
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
