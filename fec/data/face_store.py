"""The face store: one cropped face image per (URL, box), named by a stable hash.

Many triplets share a picture, so each face is cropped once and reused. Local paths (relative to the
CSV's folder) and file:// URLs are read directly and cropped on first use; http(s) faces must already
be in the store (put there by `fec-data download`). Triplets whose faces are missing are dropped and
counted, never fatal.
"""

from __future__ import annotations

import hashlib
import stat
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from PIL import Image
from tqdm import tqdm

from fec.data.triplets import FaceBox, FaceRef, Triplet
from fec.errors import DataError
from fec.io import atomic_path
from fec.preprocessing import crop_box, open_image

DEFAULT_FACE_SIZE = 224
MAX_FACE_SIZE = 1024  # stored face crops: 3 MiB of RGB each at most
MAX_FACE_MARGIN = 1.0  # box growth on each side, as a share of its size
JPEG_QUALITY = 95

# align(picture, box, margin) -> the face region, levelled, or None when it finds no face (see --align)
Aligner = Callable[[Image.Image, FaceBox, float], "Image.Image | None"]


@dataclass
class ResolvedTriplets:
    """Triplets whose three faces are in the store, and how many were dropped and why."""

    triplets: list[Triplet] = field(default_factory=list)
    face_paths: list[tuple[Path, Path, Path]] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    missing_examples: list[str] = field(default_factory=list)

    @property
    def dropped_count(self) -> int:
        return sum(self.dropped.values())


class FaceStore:
    """Cropped faces of `face_size` pixels (square) under `root`, keyed by URL, box, size and margin."""

    def __init__(self, root: str | Path, face_size: int = DEFAULT_FACE_SIZE, margin: float = 0.0):
        self.root = Path(root)
        self.face_size = face_size
        self.margin = margin

    def key(self, face: FaceRef) -> str:
        box = face.box
        text = f"{face.url}|{box.left:.6f},{box.right:.6f},{box.top:.6f},{box.bottom:.6f}|{self.face_size}|{self.margin:.4f}"
        return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]

    def path(self, face: FaceRef) -> Path:
        key = self.key(face)
        return self.root / key[:2] / f"{key}.jpg"

    def resolve(self, face: FaceRef, base_dir: Path, allow_outside: bool = False,
                root: Path | None = None) -> tuple[Path | None, str]:
        """Return (path, "") for a stored face, cropping local pictures on first use, else (None, reason).

        Relative paths are relative to `base_dir` (the CSV's folder). A local picture must lie inside
        `root` (default `base_dir`; symlinks resolved) unless `allow_outside`: a CSV from elsewhere must
        not make fec read, crop and copy files from anywhere on the machine.
        """
        root = root or base_dir
        target = self.path(face)
        if target.exists():
            return target, ""
        source = checked_local_source(face.url, base_dir, root, allow_outside)
        if source is None:
            return None, "remote image not in the store (fetch it with `fec-data download`)"
        if not is_picture_file(source, face.url):
            return None, f"image file not found: {source}"
        self.add(face, source)
        return target, ""

    def add(self, face: FaceRef, picture: Path) -> Path:
        """Crop `face` out of the picture file `picture`, resize it and write it to the store atomically."""
        target, _ = self.add_from_image(face, open_image(picture))
        return target

    def add_from_image(self, face: FaceRef, picture: Image.Image, aligner: Aligner | None = None) -> tuple[Path, bool]:
        """Store `face` of a decoded `picture`: the one place every stored face is made (cropped on first use
        or downloaded), so all of them match under the same keys. Returns the face's path and whether
        `aligner` found the face; raises DataError, writing nothing, when the box is empty on this picture."""
        region = aligner(picture, face.box, self.margin) if aligner else None
        aligned = region is not None
        if region is None:
            region = crop_box(picture, face.box, self.margin)
        crop = region.resize((self.face_size, self.face_size), resample=Image.BICUBIC)
        target = self.path(face)
        with atomic_path(target) as tmp:
            crop.save(tmp, format="JPEG", quality=JPEG_QUALITY)
        return target, aligned

    def resolve_triplets(self, triplets: list[Triplet], base_dir: Path, quiet: bool = True,
                         allow_outside: bool = False, skip_unreadable: bool = False,
                         root: Path | None = None) -> ResolvedTriplets:
        """Find (or crop) every face; keep triplets whose three faces exist.

        An unreadable picture (truncated, not an image, over the pixel cap) stops with its one-line error,
        or, with `skip_unreadable`, drops its triplets and is counted like a missing one.
        """
        result = ResolvedTriplets()
        cache: dict[FaceRef, tuple[Path | None, str]] = {}
        for triplet in tqdm(triplets, desc="faces", unit="triplet", disable=quiet, leave=False):
            paths = []
            for face in triplet.faces:
                if face not in cache:
                    cache[face] = self.resolve_row_face(face, triplet, base_dir, allow_outside, skip_unreadable, root)
                path, reason = cache[face]
                if path is None:
                    result.dropped[reason.split(":")[0]] += 1
                    if len(result.missing_examples) < 5:
                        result.missing_examples.append(f"{triplet.location}: {reason}")
                    break
                paths.append(path)
            else:
                result.triplets.append(triplet)
                result.face_paths.append(tuple(paths))
        return result

    def resolve_row_face(self, face: FaceRef, triplet: Triplet, base_dir: Path, allow_outside: bool,
                         skip_unreadable: bool, root: Path | None) -> tuple[Path | None, str]:
        """`resolve` for one face of a CSV row: a refused path, an unreadable picture or a box that is empty on it
        names the row and stops, or with `skip_unreadable` (not for refused paths) becomes the reason its triplet
        is dropped."""
        try:
            return self.resolve(face, base_dir, allow_outside, root)
        except DataError as exc:
            if skip_unreadable and not isinstance(exc, OutsideDataRoot):
                return None, f"unreadable image: {exc}"
            raise type(exc)(f"{triplet.location}: {exc}") from None


class OutsideDataRoot(DataError):
    """A CSV row names a local picture outside the folder its paths are relative to."""


class UnusablePicturePath(DataError):
    """A CSV row names a local path that cannot be a picture: a NUL byte, a name too long, a symlink loop,
    or something other than a regular file (a folder, a named pipe, a device)."""


def is_inside(path: Path, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def checked_local_source(url: str, base_dir: Path, root: Path, allow_outside: bool = False) -> Path | None:
    """`local_source`, refused with OutsideDataRoot when it lies outside `root` (unless `allow_outside`): a CSV
    from elsewhere must not make fec read files from anywhere on the machine."""
    source = local_source(url, base_dir)
    if source is None:
        return None
    if "\0" in str(source):
        raise UnusablePicturePath(f"image path {url!r} contains a NUL byte; fix or remove this CSV row")
    try:
        inside = allow_outside or is_inside(source, root)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise UnusablePicturePath(f"image path {url!r} cannot be resolved ({_reason(exc)}); fix or remove this CSV row") from None
    if not inside:
        raise OutsideDataRoot(f"image path {url!r} is outside the data folder {root}; move the pictures under it, name "
                              "their folder with --data-root, or pass --allow-outside-paths "
                              "(fec-train: --set data_root=DIR / allow_outside_paths=true)")
    return source


def is_picture_file(source: Path, url: str) -> bool:
    """Whether the local picture `source` (named `url` in a CSV) exists; False when it does not. Only a regular
    file can be a picture: anything else (a folder, a named pipe that would block forever, a device that never
    ends) or a path the system refuses (a name too long, a symlink loop) raises UnusablePicturePath."""
    try:
        mode = source.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, ValueError) as exc:
        raise UnusablePicturePath(f"image path {url!r} cannot be read ({_reason(exc)}); fix or remove this CSV row") from None
    if not stat.S_ISREG(mode):
        raise UnusablePicturePath(f"image path {url!r} is not a regular file (only picture files are read); "
                                  "fix or remove this CSV row")
    return True


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def local_source(url: str, base_dir: Path) -> Path | None:
    """The local file a URL names (file:// or a plain path, relative to `base_dir`), None for http(s). A URL urllib
    cannot parse (an unclosed IPv6 bracket) raises UnusablePicturePath."""
    try:
        parsed = urlparse(url)
    except ValueError as exc:
        raise UnusablePicturePath(f"image URL {url!r} is malformed ({exc}); fix or remove this CSV row") from None
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    path = Path(url)
    return path if path.is_absolute() else base_dir / path
