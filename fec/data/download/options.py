"""The settings of one download run, checked before anything is read or fetched."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fec.data.download.retry import RetryPolicy
from fec.data.face_store import DEFAULT_FACE_SIZE
from fec.errors import DataError

MAX_IMAGE_BYTES = 50 << 20


@dataclass(frozen=True)
class DownloadOptions:
    out: Path
    workers: int = 16
    timeout: float = 20.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    face_size: int = DEFAULT_FACE_SIZE
    margin: float = 0.0
    keep_raw: bool = False
    from_dir: Path | None = None
    mapping: Path | None = None
    data_root: Path | None = None  # folder local pictures must lie in; default: the folder of the CSV naming them
    allow_outside_paths: bool = False  # local pictures may lie anywhere
    allow_private_hosts: bool = False  # URLs may lead to loopback, private and link-local addresses (fec.data.download.connect)
    align: str | None = None
    skip_bad_rows: bool = False
    retry_permanent: bool = False
    max_bytes: int = MAX_IMAGE_BYTES
    progress: bool = False

    def check(self) -> None:
        problems = [
            (self.workers < 1, f"--workers must be at least 1, got {self.workers}"),
            (self.timeout <= 0, f"--timeout must be positive, got {self.timeout}"),
            (self.retry.retries < 0, f"--retries must be 0 or more, got {self.retry.retries}"),
            (self.face_size < 8, f"--image-size must be at least 8 pixels, got {self.face_size}"),
            (not 0 <= self.margin <= 2, f"--margin must be in [0, 2], got {self.margin}"),
            (self.mapping is not None and self.from_dir is None, "--mapping needs --from-dir"),
        ]
        for bad, message in problems:
            if bad:
                raise DataError(message)
