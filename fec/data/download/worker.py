"""What a worker thread does with one URL: get its picture (kept raw, --from-dir, local path or HTTP),
validate it and store its faces."""

from __future__ import annotations

import hashlib
import os
import random
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from fec.data.download.fetch import fetch_once
from fec.data.download.options import DownloadOptions
from fec.data.download.outcomes import HTTP_ERROR, MISSING, NOT_IMAGE, OK, REFUSED, Payload, PermanentError, UrlOutcome
from fec.data.download.pictures import load_picture
from fec.data.download.plan import UrlJob
from fec.data.download.raw_pictures import RawDirectory, find_raw, raw_path
from fec.data.download.retry import fetch_with_retries
from fec.data.download.urls import is_remote, url_problem
from fec.data.face_store import Aligner, FaceStore, checked_local_source
from fec.errors import DataError
from fec.io import atomic_path


class UrlWorker:
    """Get one URL's picture (kept raw, --from-dir, local path or HTTP), validate it, store its faces."""

    def __init__(self, store: FaceStore, options: DownloadOptions, aligner: Aligner | None, directory: RawDirectory | None,
                 stop: threading.Event, fetch: Callable[[str], Payload] | None = None):
        self.store = store
        self.options = options
        self.aligner = aligner
        self.directory = directory
        self.stop = stop
        self.fetch = fetch or (lambda url: fetch_once(url, options.timeout, options.max_bytes, options.allow_private_hosts))
        self.rng = random.Random()

    def __call__(self, job: UrlJob) -> UrlOutcome:
        got = self.obtain(job)
        if isinstance(got, UrlOutcome):
            return got
        outcome = UrlOutcome(job.url, OK, http=got.code, size=len(got.data), attempts=got.attempts, source=got.source)
        try:
            picture, fmt = load_picture(got, job.url)
        except PermanentError as exc:  # no hash: a CSV may name any local file, and a hash identifies it
            outcome.status, outcome.error = exc.status, str(exc)
            return outcome
        outcome.sha256 = hashlib.sha256(got.data).hexdigest()
        self.store_faces(job, picture, outcome)
        if self.options.keep_raw and got.source != "raw":
            with atomic_path(raw_path(self.store.root, job.url, fmt)) as tmp:
                tmp.write_bytes(got.data)
        return outcome

    def obtain(self, job: UrlJob) -> Payload | UrlOutcome:
        kept = find_raw(self.store.root, job.url)  # kept by an earlier run: no need to fetch again
        if kept is not None:
            return self.read_local(job.url, kept, "raw")
        if self.directory is not None:
            return self.read_local(job.url, self.directory.find(job.url), "dir")
        source = "http" if is_remote(job.url) else "local"
        problem = url_problem(job.url)
        if problem:
            return UrlOutcome(job.url, HTTP_ERROR, error=f"malformed URL ({problem})", source=source)
        if source == "local":
            try:
                path = checked_local_source(job.url, job.base_dir, self.options.data_root or job.base_dir,
                                            self.options.allow_outside_paths)
            except DataError as exc:  # outside the data folder, or a path no picture can have: never read
                return UrlOutcome(job.url, REFUSED, error=str(exc), source=source)
            return self.read_local(job.url, path, source)
        return fetch_with_retries(job.url, self.fetch, self.options.retry, self.stop, self.rng)

    def read_local(self, url: str, path: Path | None, source: str) -> Payload | UrlOutcome:
        """The file's bytes, or a per-URL failure: a CSV may name any path (missing, unreadable, a name
        too long, a huge file, a named pipe), and none of that may stop or hang the run."""
        limit = self.options.max_bytes
        if path is None:
            return UrlOutcome(url, MISSING, error="no local picture for this URL", source=source)
        try:
            data = read_regular_file(path, limit + 1)
        except (FileNotFoundError, NotADirectoryError):
            return UrlOutcome(url, MISSING, error=f"no local picture for this URL ({path})", source=source)
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            return UrlOutcome(url, MISSING, error=f"cannot read {path} ({reason})", source=source)
        if data is None:
            return UrlOutcome(url, REFUSED, error=f"{path} is not a regular file (only picture files are read)", source=source)
        if len(data) > limit:
            return UrlOutcome(url, NOT_IMAGE, error=f"too large (over {limit} bytes)", source=source)
        return Payload(data, source)

    def store_faces(self, job: UrlJob, picture: Image.Image, outcome: UrlOutcome) -> None:
        for face in job.faces:
            try:
                path, aligned = self.store.add_from_image(face, picture, self.aligner)
            except DataError as exc:
                outcome.bad_faces[self.store.key(face)] = str(exc)
                continue
            outcome.crops.append(path.relative_to(self.store.root).as_posix())
            outcome.unaligned += self.aligner is not None and not aligned


def read_regular_file(path: Path, size: int) -> bytes | None:
    """Up to `size` bytes of `path`, or None when it is not a regular file (a folder, a device, a named pipe:
    opened without blocking, so a pipe with no writer cannot hold a worker, and never read)."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        return None
    with open(descriptor, "rb") as handle:
        return handle.read(size)
