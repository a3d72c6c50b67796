"""Keeping one face store consistent across runs: its pinned settings, one writer at a time, and no
leftovers from a killed run."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from fec.data.download.layout import LOCK_NAME, STORE_FORMAT, STORE_INFO_NAME, STORE_VERSION
from fec.data.download.options import DownloadOptions
from fec.data.face_store import JPEG_QUALITY
from fec.errors import DataError
from fec.io import write_json

STORE_SETTINGS = {"face_size": "--image-size", "margin": "--margin", "align": "--align"}


def check_store_info(root: Path, options: DownloadOptions) -> None:
    """Write STORE/store.json, or refuse settings that differ from the ones the store was made with."""
    wanted = {"format": STORE_FORMAT, "version": STORE_VERSION, "face_size": options.face_size}
    wanted.update(margin=options.margin, align=options.align, jpeg_quality=JPEG_QUALITY)
    path = root / STORE_INFO_NAME
    if not path.exists():
        write_json(path, wanted)
        return
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: unreadable store settings ({exc}); remove it only if the store is empty") from None
    differing = [key for key in STORE_SETTINGS if found.get(key) != wanted[key]]
    if differing:
        have = ", ".join(f"{STORE_SETTINGS[key]} {found.get(key)}" for key in differing)
        asked = ", ".join(f"{STORE_SETTINGS[key]} {wanted[key]}" for key in differing)
        raise DataError(f"{root}: store was made with {have}, this run asks for {asked}; use the same settings or another --out")


@contextlib.contextmanager
def store_lock(root: Path) -> Iterator[None]:
    """One download per store at a time (two would race on the manifest)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(root / LOCK_NAME, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataError(f"{root}: another fec-data download is writing to this store") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_temporaries(root: Path) -> int:
    """Temporary files left by a killed run (never under a final name); safe under the store lock."""
    removed = 0
    for path in root.rglob(".*.tmp"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed
