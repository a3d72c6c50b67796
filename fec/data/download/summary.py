"""What survived: per face, per URL status and per CSV (kept triplets by type, dropped ones by reason),
computed from the manifest and the store alone so it reads the same however often the run was resumed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fec.data.download.layout import kept_csv_path
from fec.data.download.options import DownloadOptions
from fec.data.download.outcomes import BAD_BOX, NOT_ATTEMPTED, OK, STATUSES, UrlOutcome
from fec.data.download.plan import UrlJob
from fec.data.face_store import FaceStore
from fec.data.fec_csv import TripletFile
from fec.data.triplets import TRIPLET_TYPES, FaceRef, Triplet


@dataclass
class TypeCounts:
    complete: int = 0
    dropped: int = 0


@dataclass
class CsvSummary:
    """One input CSV: how many triplets survived, per type, and why the others were dropped."""

    csv: str
    kept_csv: str
    triplets: int = 0
    complete: int = 0
    dropped: int = 0
    bad_rows: int = 0
    by_type: dict[str, TypeCounts] = field(default_factory=lambda: {t.value: TypeCounts() for t in TRIPLET_TYPES})
    dropped_by_reason: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        by_type = {name: vars(counts).copy() for name, counts in self.by_type.items()}
        return {**vars(self), "by_type": by_type, "dropped_by_reason": dict(sorted(self.dropped_by_reason.items()))}


@dataclass
class DownloadSummary:
    """The state of the store for these CSVs (deterministic: no times, no per-run numbers)."""

    face_size: int
    margin: float
    align: str | None
    urls: dict[str, int]
    faces: dict[str, int]
    csvs: list[CsvSummary]

    def to_dict(self) -> dict:
        payload = {"face_size": self.face_size, "margin": self.margin, "align": self.align}
        payload.update(urls=self.urls, faces=self.faces, csvs=[c.to_dict() for c in self.csvs])
        return payload


def face_states(jobs: list[UrlJob], records: dict[str, UrlOutcome], store: FaceStore) -> dict[FaceRef, str]:
    """For every face: "" when stored, else why not (a URL status, bad_box or not_attempted)."""
    states = {}
    for job in jobs:
        record = records.get(job.url)
        for face in job.faces:
            if record is None:
                states[face] = NOT_ATTEMPTED
            elif record.status != OK:
                states[face] = record.status
            elif store.key(face) in record.bad_faces:
                states[face] = BAD_BOX
            else:
                states[face] = "" if store.path(face).exists() else NOT_ATTEMPTED
    return states


def summarize_csv(triplet_file: TripletFile, states: dict[FaceRef, str], kept_path: Path,
                  label: str) -> tuple[CsvSummary, list[Triplet]]:
    summary = CsvSummary(csv=label, kept_csv=kept_path.name, triplets=len(triplet_file.triplets),
                         bad_rows=len(triplet_file.bad_rows))
    kept = []
    for triplet in triplet_file.triplets:
        reason = next((states[face] for face in triplet.faces if states[face]), "")
        counts = summary.by_type[triplet.type.value]
        if reason:
            summary.dropped += 1
            counts.dropped += 1
            summary.dropped_by_reason[reason] = summary.dropped_by_reason.get(reason, 0) + 1
        else:
            summary.complete += 1
            counts.complete += 1
            kept.append(triplet)
    return summary, kept


def summarize(files: list[TripletFile], labels: list[str], jobs: list[UrlJob], records: dict[str, UrlOutcome],
              store: FaceStore, options: DownloadOptions) -> tuple[DownloadSummary, list[list[Triplet]]]:
    states = face_states(jobs, records, store)
    url_counts = Counter(records[job.url].status if job.url in records else NOT_ATTEMPTED for job in jobs)
    urls = {"total": len(jobs), **{s: url_counts.get(s, 0) for s in (*STATUSES, NOT_ATTEMPTED)}}
    face_counts = Counter("stored" if not state else state for state in states.values())
    faces = {"total": len(states), "stored": face_counts.pop("stored", 0), **dict(sorted(face_counts.items()))}
    csvs, kept_lists = [], []
    for triplet_file, label in zip(files, labels):
        csv_summary, kept = summarize_csv(triplet_file, states, kept_csv_path(store.root, triplet_file.path), label)
        csvs.append(csv_summary)
        kept_lists.append(kept)
    summary = DownloadSummary(options.face_size, options.margin, options.align, urls, faces, csvs)
    return summary, kept_lists
