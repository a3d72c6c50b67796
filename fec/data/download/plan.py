"""Planning a run: which URL carries which faces, and which URLs an earlier run already finished."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from fec.data.download.layout import KEPT_SUFFIX
from fec.data.download.options import DownloadOptions
from fec.data.download.outcomes import OK, PERMANENT, UrlOutcome
from fec.data.download.urls import is_remote
from fec.data.face_store import FaceStore
from fec.data.fec_csv import TripletFile
from fec.data.triplets import FaceRef
from fec.errors import DataError


@dataclass
class UrlJob:
    url: str
    faces: list[FaceRef]  # the unique (URL, box) faces the CSVs need, in first-seen order
    base_dir: Path  # folder of the first CSV naming the URL (local paths are relative to it)


def plan_jobs(files: list[TripletFile]) -> list[UrlJob]:
    jobs: dict[str, UrlJob] = {}
    seen: set[FaceRef] = set()
    for triplet_file in files:
        for triplet in triplet_file.triplets:
            for face in triplet.faces:
                job = jobs.setdefault(face.url, UrlJob(face.url, [], triplet_file.path.parent))
                if face not in seen:
                    seen.add(face)
                    job.faces.append(face)
    return list(jobs.values())


def is_done(job: UrlJob, record: UrlOutcome | None, store: FaceStore, options: DownloadOptions) -> bool:
    if record is None:
        return False
    if record.status == OK:
        return all(store.key(face) in record.bad_faces or store.path(face).exists() for face in job.faces)
    retry_permanent = options.retry_permanent or options.from_dir is not None or not is_remote(job.url)
    return record.status in PERMANENT and not retry_permanent


def check_kept_names(files: list[TripletFile]) -> None:
    stems = Counter(f.path.stem for f in files)
    clashes = sorted(stem for stem, count in stems.items() if count > 1)
    if clashes:
        raise DataError(f"two CSVs share the name {clashes[0]!r}: their kept subsets would both be {clashes[0]}{KEPT_SUFFIX}")
