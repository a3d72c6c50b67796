"""`fec-data fit-boxes`: a dataset's box convention, fitted by running a face detector inside its own boxes.

A sample of the CSV's distinct faces is read (local pictures inside the data folder, or pictures that
`fec-data download --keep-raw` kept in the store), the detector looks for the face each box holds
(`fec.detect.face_in_box`), and the median offset and scale from the detected box to the dataset's box
become the convention (`fec.detect.convention`). fec-train records it with the model; photo embedding and
the served photo model crop detected faces by it, so that they reach the model the way training saw them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fec.data.download.raw_pictures import find_raw
from fec.data.face_store import checked_local_source
from fec.data.fec_csv import read_triplets
from fec.data.triplets import FaceRef
from fec.detect import FaceDetector, face_in_box, pixel_box
from fec.detect.convention import (
    CONVENTION_FILE,
    BoxConvention,
    chosen_convention,
    fit_box_convention,
    write_box_convention,
)
from fec.errors import DataError
from fec.preprocessing import open_image

DEFAULT_FIT_FACES = 500


@dataclass(frozen=True)
class BoxFit:
    """The fitted convention and what the fit saw: faces sampled, found inside their box, without a picture here."""

    convention: BoxConvention
    sampled: int
    found: int
    no_picture: int

    def facts(self) -> dict:
        return {"sampled": self.sampled, "found": self.found, "no_picture": self.no_picture}

    def summary(self) -> str:
        return (f"{self.found} of {self.sampled} sampled faces found inside their box "
                f"({self.no_picture} without a picture here): {self.convention.describe()}")


def distinct_faces(csv_path: Path, count: int, seed: int) -> list[FaceRef]:
    """Up to `count` distinct faces of the CSV, drawn at random (seeded) so that a big CSV costs `count` faces."""
    triplets = read_triplets(csv_path, skip_bad_rows=True).triplets
    faces = list(dict.fromkeys(face for triplet in triplets for face in triplet.faces))
    if not faces:
        raise DataError(f"{csv_path}: no faces to fit a box convention on")
    order = np.random.default_rng(seed).permutation(len(faces))[:count]
    return [faces[index] for index in sorted(order)]


def picture_file(face: FaceRef, base_dir: Path, store: Path, root: Path, allow_outside: bool) -> Path | None:
    """The picture a face's URL names here: a local file inside `root`, or one kept raw in the store; else None."""
    source = checked_local_source(face.url, base_dir, root, allow_outside)
    if source is None:
        return find_raw(store, face.url)
    return source if source.is_file() else None


def fit_dataset_boxes(csv_path: str | Path, detector: FaceDetector, faces: int = DEFAULT_FIT_FACES, seed: int = 0,
                      store: str | Path | None = None, data_root: str | Path | None = None,
                      allow_outside: bool = False, quiet: bool = True) -> BoxFit:
    """Fit the CSV's box convention on up to `faces` of its faces. DataError when too few are found."""
    csv_path = Path(csv_path)
    base_dir = csv_path.parent
    store, root = Path(store or base_dir / "faces"), Path(data_root or base_dir)
    pairs, no_picture = [], 0
    sample = distinct_faces(csv_path, faces, seed)
    for face in tqdm(sample, desc="fit boxes", unit="face", disable=quiet, leave=False):
        try:
            path = picture_file(face, base_dir, store, root, allow_outside)
        except DataError as exc:  # a path outside the data folder, a malformed URL: faces are sampled without rows
            raise type(exc)(f"{csv_path}: {exc}") from None
        if path is None:
            no_picture += 1
            continue
        picture = open_image(path)
        found = face_in_box(detector, picture, face.box)
        if found is not None:
            pairs.append((found.box, pixel_box(face.box, picture.size)))
    if no_picture == len(sample):
        raise DataError(f"{csv_path}: none of the {len(sample)} sampled faces has its picture here (remote pictures "
                        "count only when kept: fec-data download --keep-raw)")
    try:
        convention = fit_box_convention(pairs, detector.name)
    except DataError as exc:
        raise DataError(f"{csv_path}: {exc}") from None
    return BoxFit(convention, len(sample), len(pairs), no_picture)


def write_fit(path: str | Path, fit: BoxFit) -> Path:
    """Write the convention file (atomically); returns its path."""
    write_box_convention(path, fit.convention, fit.facts())
    return Path(path)


def training_convention(setting: str, train_csv: Path) -> BoxConvention | None:
    """fec-train's `box_convention` key: `auto` (the file beside the training CSV, when there is one), `none`, or
    a convention file. DataError naming the file when it is unreadable."""
    beside = train_csv.parent / CONVENTION_FILE
    if setting == "auto":
        setting = str(beside) if beside.is_file() else "none"
    try:
        return chosen_convention(setting, None)
    except DataError as exc:
        raise DataError(f"box_convention: {exc}") from None
