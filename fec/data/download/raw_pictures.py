"""Pictures named by a hash of their URL: the ones kept under STORE/raw (--keep-raw), so a rerun finds them
without fetching, and a folder the user already has (--from-dir), so no network is needed at all."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from urllib.parse import unquote, urlparse

from fec.data.download.layout import RAW_DIR_NAME
from fec.data.face_store import is_inside
from fec.errors import DataError

RAW_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}


def url_hash(url: str) -> str:
    """The name a raw picture goes by (kept downloads and --from-dir folders): sha1 of the URL."""
    return hashlib.sha1(url.encode("utf-8", "surrogatepass")).hexdigest()


def raw_path(store_root: Path, url: str, fmt: str) -> Path:
    digest = url_hash(url)
    return store_root / RAW_DIR_NAME / digest[:2] / f"{digest}.{RAW_EXTENSIONS.get(fmt, 'img')}"


def find_raw(store_root: Path, url: str) -> Path | None:
    digest = url_hash(url)
    folder = store_root / RAW_DIR_NAME / digest[:2]
    matches = sorted(folder.glob(f"{digest}.*")) if folder.is_dir() else []
    return next((m for m in matches if not m.name.endswith(".tmp")), None)


class RawDirectory:
    """A folder of pictures named by URL hash (`<sha1>.<ext>`, optionally under `<sha1[:2]>/`), by
    the URL's file name, or listed in a mapping file (`url,file` rows, files relative to the folder)."""

    def __init__(self, root: Path, by_hash: dict[str, Path], by_url: dict[str, Path]):
        self.root = root
        self.by_hash = by_hash
        self.by_url = by_url

    @classmethod
    def open(cls, root: Path, mapping: Path | None = None) -> RawDirectory:
        if not root.is_dir():
            raise DataError(f"{root}: --from-dir folder not found")
        by_hash = {}
        for path in sorted(root.rglob("*")):
            if path.is_file() and len(path.stem) == 40 and not path.name.startswith("."):
                by_hash.setdefault(path.stem.lower(), path)
        return cls(root, by_hash, read_mapping(mapping, root) if mapping else {})

    def find(self, url: str) -> Path | None:
        if url in self.by_url:
            return self.by_url[url]
        if url_hash(url) in self.by_hash:
            return self.by_hash[url_hash(url)]
        try:
            name = Path(unquote(urlparse(url).path)).name
        except ValueError:  # a malformed URL: found by hash or mapping only
            return None
        candidate = self.root / name if name else None
        return candidate if candidate is not None and candidate.is_file() else None


def read_mapping(path: Path, root: Path) -> dict[str, Path]:
    """`url,file` (or tab-separated) rows; a first row `url,...` is a header."""
    if not path.is_file():
        raise DataError(f"{path}: mapping file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: mapping file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    delimiter = "\t" if "\t" in text.split("\n", 1)[0] else ","
    mapping = {}
    for line, fields in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1):
        fields = [f.strip() for f in fields]
        if not any(fields) or (line == 1 and fields[0].lower() == "url"):
            continue
        if len(fields) != 2 or not all(fields):
            raise DataError(f"{path}:{line}: expected two fields (url, file), got {len(fields)}")
        mapping[fields[0]] = mapped_file(root, fields[1], f"{path}:{line}")
    return mapping


def mapped_file(root: Path, name: str, where: str) -> Path:
    """`name` under the --from-dir folder `root` (symlinks resolved): a mapping file must not point fec at
    pictures elsewhere on the machine."""
    file = root / name
    try:
        inside = "\0" not in name and is_inside(file, root)
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        inside = False
    if not inside:
        raise DataError(f"{where}: file {name!r} is not a path inside the --from-dir folder {root}; "
                        "map each URL to a picture under that folder")
    return file
