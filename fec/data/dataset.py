"""Torch datasets of triplets whose faces are in the face store.

Faces are decoded once per unique file (many triplets share faces) and, when they fit in memory,
kept as one uint8 array at the model's input size, so a CPU epoch costs no JPEG decoding.
Items are uint8 (3 faces, 3, H, W); normalisation happens on the device (`normalize_tensor`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from fec.data.face_store import DEFAULT_FACE_SIZE, MAX_FACE_MARGIN, MAX_FACE_SIZE, ResolvedTriplets
from fec.data.triplets import TRIPLET_TYPES, high_agreement
from fec.errors import ArtifactError, RecordWarning
from fec.preprocessing import MIN_INPUT_SIZE, open_image, resize_uint8

TYPE_INDEX = {kind.value: index for index, kind in enumerate(TRIPLET_TYPES)}
CACHE_LIMIT_BYTES = 4 << 30


class FaceImages:
    """Unique face files as uint8 HWC arrays of `size` pixels, cached in memory when asked."""

    def __init__(self, paths: list[Path], size: int, cache: bool, quiet: bool = True):
        self.paths = paths
        self.size = size
        self.cached: np.ndarray | None = None
        if cache:
            self.cached = np.empty((len(paths), size, size, 3), dtype=np.uint8)
            for index in tqdm(range(len(paths)), desc="decode faces", unit="face", disable=quiet, leave=False):
                self.cached[index] = self.load(index)

    def load(self, index: int) -> np.ndarray:
        return resize_uint8(open_image(self.paths[index]), self.size)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.cached[index] if self.cached is not None else self.load(index)

    def __len__(self) -> int:
        return len(self.paths)

    def select(self, indices: np.ndarray) -> FaceImages:
        """The faces at `indices`, sharing this object's decoded cache."""
        chosen = FaceImages([self.paths[i] for i in indices], self.size, cache=False)
        if self.cached is not None:
            chosen.cached = self.cached[indices]
        return chosen


def should_cache(face_count: int, size: int, setting: str | bool) -> bool:
    """`auto` caches when the decoded faces fit in CACHE_LIMIT_BYTES; `on`/True always, `off`/False never."""
    if setting == "auto":
        return face_count * size * size * 3 <= CACHE_LIMIT_BYTES
    return setting in (True, "on")


class TripletDataset(Dataset):
    """Items for keys `index` or `(index, position)`; `position` seeds the flip augmentation."""

    def __init__(self, resolved: ResolvedTriplets, size: int, cache: str | bool = "auto",
                 flip: bool = False, seed: int = 0, quiet: bool = True):
        self.triplets = resolved.triplets
        unique = sorted({path for paths in resolved.face_paths for path in paths})
        slot = {path: index for index, path in enumerate(unique)}
        self.face_index = np.array([[slot[p] for p in paths] for paths in resolved.face_paths], dtype=np.int64).reshape(-1, 3)
        self.faces = FaceImages(unique, size, should_cache(len(unique), size, cache), quiet)
        self.odd_index = np.array([t.odd - 1 for t in self.triplets], dtype=np.int64)
        self.type_index = np.array([TYPE_INDEX[t.type.value] for t in self.triplets], dtype=np.int64)
        self.agreement = np.array([t.agreement for t in self.triplets], dtype=np.float32)
        self.flip = flip
        self.seed = seed

    def __len__(self) -> int:
        return len(self.triplets)

    def __getitem__(self, key) -> dict:
        index, position = key if isinstance(key, tuple) else (key, None)
        faces = np.stack([self.faces[face] for face in self.face_index[index]])  # (3, H, W, 3)
        if self.flip and position is not None:
            flips = np.random.default_rng([self.seed, position]).random(3) < 0.5
            faces[flips] = faces[flips][:, :, ::-1]
        return {
            "images": torch.from_numpy(np.ascontiguousarray(faces.transpose(0, 3, 1, 2))),
            "odd_index": int(self.odd_index[index]),
            "type_index": int(self.type_index[index]),
        }


class LoadedTriplets:
    """A triplet file resolved against the face store, ready for a model of `input_size` pixels."""

    def __init__(self, file, resolved: ResolvedTriplets, dataset: TripletDataset):
        self.file, self.resolved, self.dataset = file, resolved, dataset

    def warnings(self) -> list[str]:
        """One line per kind of loss: malformed rows skipped, triplets dropped for missing faces."""
        lines = []
        if self.file.bad_rows:
            lines.append(f"{self.file.path}: skipped {len(self.file.bad_rows)} malformed row(s), first: {self.file.bad_rows[0]}")
        if self.resolved.dropped_count:
            reasons = ", ".join(f"{count} {reason}" for reason, count in self.resolved.dropped.items())
            lines.append(f"{self.file.path}: dropped {self.resolved.dropped_count} triplet(s) with missing faces ({reasons}); "
                         f"first: {self.resolved.missing_examples[0]}")
        return lines


@dataclass(frozen=True)
class FaceCrops:
    """How a model's faces are cropped: the stored size and the margin around the FEC box.

    Training records both (checkpoint config, export manifest `source`); everything that loads faces for a
    trained model reads them back with `recorded`, so evaluation, verification, calibration and serving
    crop the way training did.
    """

    size: int = DEFAULT_FACE_SIZE
    margin: float = 0.0

    @classmethod
    def recorded(cls, record: dict | None, size: int | None = None, source: str | Path = "recorded",
                 say_unrecorded: bool = True) -> FaceCrops:
        """The crops `record` (a training config or a manifest's source, untrusted) names; `size` overrides its
        size. ArtifactError naming `source` when a recorded value is impossible; a RecordWarning (unless
        `say_unrecorded` is off) when one is missing and fec-train's default stands in."""
        if record is not None and not isinstance(record, dict):
            raise ArtifactError(f"{source}: the record of how faces were cropped is not a mapping")
        record = record or {}
        face_size = size or record.get("face_size") or DEFAULT_FACE_SIZE
        margin = record.get("face_margin") or 0.0
        problem = face_size_problem(face_size) or face_margin_problem(margin)
        if problem:
            raise ArtifactError(f"{source}: {problem}")
        crops = cls(face_size, float(margin))
        unrecorded = [name for name in ("face_margin",) + (() if size else ("face_size",)) if record.get(name) is None]
        if unrecorded and say_unrecorded:
            crops.say_defaulted(unrecorded, source)
        return crops

    def say_defaulted(self, names: list[str], source: str | Path) -> None:
        warnings.warn(f"{source}: no {' or '.join(names)} recorded; faces are cropped at {self.size} px with margin "
                      f"{self.margin:g} (fec-train's defaults stand in), which may not be how the model was trained",
                      RecordWarning, stacklevel=3)


def face_size_problem(size) -> str | None:
    """Why `size` cannot be the side of stored face crops, or None."""
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_INPUT_SIZE <= size <= MAX_FACE_SIZE:
        return f"face_size {size!r} is not a whole number of pixels in [{MIN_INPUT_SIZE}, {MAX_FACE_SIZE}]"
    return None


def face_margin_problem(margin) -> str | None:
    """Why `margin` cannot grow a face box (a share of its size on each side), or None."""
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0.0 <= margin <= MAX_FACE_MARGIN:
        return f"face_margin {margin!r} is not a number in [0, {MAX_FACE_MARGIN:g}]"
    return None


def training_csv(data: str | Path) -> Path:
    """A triplet CSV as given, or the train.csv of a dataset folder."""
    data = Path(data)
    return data / "train.csv" if data.is_dir() else data


def triplet_csv(data: str | Path) -> Path:
    """A triplet CSV as given, or the test.csv of a dataset folder (what `fec-data synth` writes)."""
    data = Path(data)
    return data / "test.csv" if data.is_dir() else data


def load_triplets(csv_path: str | Path, input_size: int, store: str | Path | None = None, face_size: int = 224,
                  margin: float = 0.0, skip_bad_rows: bool = False, min_agreement: float = 0.0,
                  cache: str | bool = "auto", flip: bool = False, seed: int = 0, quiet: bool = True,
                  allow_outside_paths: bool = False, data_root: str | Path | None = None) -> LoadedTriplets:
    """Parse a triplet CSV, find (or crop) its faces in the store, and wrap the result as a dataset.

    Local pictures must lie inside `data_root` (default: the CSV's folder) unless `allow_outside_paths`.
    """
    from fec.data.face_store import FaceStore
    from fec.data.fec_csv import read_triplets
    from fec.errors import DataError

    csv_path = Path(csv_path)
    triplet_file = read_triplets(csv_path, skip_bad_rows=skip_bad_rows)
    triplets = high_agreement(triplet_file.triplets, min_agreement)
    if not triplets:
        raise DataError(f"{csv_path}: no triplets to use ({len(triplet_file.triplets)} parsed, min_agreement {min_agreement})")
    face_store = FaceStore(store or csv_path.parent / "faces", face_size, margin)
    resolved = face_store.resolve_triplets(triplets, csv_path.parent, quiet=quiet, allow_outside=allow_outside_paths,
                                           skip_unreadable=skip_bad_rows, root=Path(data_root) if data_root else None)
    if not resolved.triplets:
        raise DataError(f"{csv_path}: none of {len(triplets)} triplets has all three faces; "
                        f"first: {resolved.missing_examples[0]}")
    dataset = TripletDataset(resolved, input_size, cache, flip, seed, quiet)
    return LoadedTriplets(triplet_file, resolved, dataset)


def subset(dataset: TripletDataset, indices: np.ndarray) -> TripletDataset:
    """A dataset of the chosen triplets, sharing decoded faces but embedding only the faces it uses."""
    part = TripletDataset.__new__(TripletDataset)
    used, remapped = np.unique(dataset.face_index[indices], return_inverse=True)
    part.triplets = [dataset.triplets[i] for i in indices]
    part.face_index = remapped.reshape(-1, 3)
    part.faces = dataset.faces.select(used)
    part.odd_index = dataset.odd_index[indices]
    part.type_index = dataset.type_index[indices]
    part.agreement = dataset.agreement[indices]
    part.flip, part.seed = dataset.flip, dataset.seed
    return part
