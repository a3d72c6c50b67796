"""Face alignment plug-ins (--align): finding one by name and checking its package is installed."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from collections.abc import Callable

from PIL import Image

from fec.data.face_store import Aligner
from fec.data.triplets import FaceBox
from fec.detect import align_in_box, create_detector
from fec.errors import DataError, DetectorError

ALIGNER_ENTRY_POINTS = "fec.aligners"


def _mtcnn_aligner() -> Aligner:
    """MTCNN (fec.detect): find the face whose eyes lie in the box, level its eyes, crop the box again."""
    detector = create_detector("mtcnn")  # thread-safe: shared by the download workers

    def align(picture: Image.Image, box: FaceBox, margin: float) -> Image.Image | None:
        return align_in_box(detector, picture, box, margin)

    return align


# name -> factory; each aligns with a fec.detect detector, which names its package and the safe way to install it
KNOWN_ALIGNERS: dict[str, Callable[[], Aligner]] = {"mtcnn": _mtcnn_aligner}


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
