"""The library entry point of `fec-data download`: check the input, fill the store under its lock, then
write the kept CSVs and summary.json."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fec.data.download.aligners import load_aligner
from fec.data.download.layout import DOWNLOAD_RECORDS_NAME, SUMMARY_NAME, kept_csv_path
from fec.data.download.manifest import ManifestWriter, compact_manifest, load_manifest
from fec.data.download.options import DownloadOptions
from fec.data.download.outcomes import FAILED, OK, Payload, UrlOutcome
from fec.data.download.plan import UrlJob, check_kept_names, is_done, plan_jobs
from fec.data.download.pool import run_bounded
from fec.data.download.progress import Progress
from fec.data.download.raw_pictures import RawDirectory
from fec.data.download.store import check_store_info, remove_stale_temporaries, store_lock
from fec.data.download.summary import DownloadSummary, summarize
from fec.data.download.worker import UrlWorker
from fec.data.face_store import FaceStore
from fec.data.fec_csv import TripletFile, read_triplets, write_fec_csv
from fec.detect.convention import CONVENTION_FILE, MIN_FIT_FACES, fit_box_convention, write_box_convention
from fec.errors import DataError
from fec.io import make_folder, write_json


@dataclass
class RunStats:
    """What this run did (printed, not written: the store's files do not depend on how often it ran)."""

    urls: int = 0
    skipped: int = 0
    processed: int = 0
    ok: int = 0
    failed: int = 0
    requests: int = 0
    downloaded_bytes: int = 0
    seconds: float = 0.0


@dataclass
class DownloadReport:
    summary: DownloadSummary
    run: RunStats
    store: Path
    manifest: Path
    summary_path: Path
    box_convention: Path | None = None  # written with --align mtcnn (fec.detect.convention)

    @property
    def transient_failures(self) -> int:
        return self.summary.urls.get(FAILED, 0)


def download(csv_paths: list[str | os.PathLike], options: DownloadOptions,
             fetch: Callable[[str], Payload] | None = None) -> DownloadReport:
    """Fill `options.out` with the faces of every triplet in `csv_paths`; write the manifest, the kept
    CSVs and summary.json. Input mistakes raise DataError before anything is fetched."""
    started = time.monotonic()
    options.check()
    aligner = load_aligner(options.align) if options.align else None
    files = [read_triplets(path, options.skip_bad_rows) for path in csv_paths]
    check_kept_names(files)
    directory = RawDirectory.open(options.from_dir, options.mapping) if options.from_dir else None
    jobs = plan_jobs(files)
    store = open_store(options)
    root = store.root
    with store_lock(root):
        worker = UrlWorker(store, options, aligner, directory, threading.Event(), fetch)
        records, run = update_store(jobs, store, worker, options)
        summary = write_results(files, [str(p) for p in csv_paths], jobs, records, store, options)
        convention = write_convention(aligner, root)
    run.seconds = time.monotonic() - started
    return DownloadReport(summary, run, root, root / DOWNLOAD_RECORDS_NAME, root / SUMMARY_NAME, convention)


def write_convention(aligner, root: Path) -> Path | None:
    """With --align mtcnn: the box convention of the faces this run aligned, beside the kept CSVs (where fec-train
    finds it), when enough were found to fit one; an earlier run's file stays otherwise."""
    pairs = getattr(aligner, "pairs", None)
    if not pairs or len(pairs) < MIN_FIT_FACES:
        return None
    convention = fit_box_convention(pairs, aligner.detector.name)
    write_box_convention(root / CONVENTION_FILE, convention, {"found": len(pairs), "by": "fec-data download --align"})
    return root / CONVENTION_FILE


def open_store(options: DownloadOptions) -> FaceStore:
    """The face store at `options.out`, its folder made if need be."""
    root = Path(options.out)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: --out must be a folder (the face store), not a file")
    make_folder(root)
    return FaceStore(root, options.face_size, options.margin)


def update_store(jobs: list[UrlJob], store: FaceStore, worker: UrlWorker,
                 options: DownloadOptions) -> tuple[dict[str, UrlOutcome], RunStats]:
    """Under the store lock: check its settings, clear a killed run's leftovers, process every URL not done
    yet and compact the manifest. Returns the last record per URL and what this run did."""
    root = store.root
    check_store_info(root, options)
    remove_stale_temporaries(root)
    records = load_manifest(root / DOWNLOAD_RECORDS_NAME)
    todo = [job for job in jobs if not is_done(job, records.get(job.url), store, options)]
    run = RunStats(urls=len(jobs), skipped=len(jobs) - len(todo))
    process_jobs(jobs, todo, worker, records, root / DOWNLOAD_RECORDS_NAME, run, options)
    compact_manifest(root / DOWNLOAD_RECORDS_NAME, records, jobs)
    return records, run


def process_jobs(jobs: list[UrlJob], todo: list[UrlJob], worker: UrlWorker, records: dict[str, UrlOutcome],
                 manifest_path: Path, run: RunStats, options: DownloadOptions) -> None:
    """Run the pool, recording each outcome in the manifest (and in `records`) as it arrives."""
    progress = Progress(jobs, todo, records, options.progress)
    manifest = ManifestWriter(manifest_path)
    try:
        for outcome in run_bounded(todo, worker, options.workers, worker.stop):
            manifest.append(outcome)
            records[outcome.url] = outcome
            progress.update(outcome)
            count_outcome(run, outcome)
    finally:
        manifest.close()
        progress.close()


def count_outcome(run: RunStats, outcome: UrlOutcome) -> None:
    run.processed += 1
    run.ok += outcome.status == OK
    run.failed += outcome.status != OK
    if outcome.source == "http":
        run.requests += outcome.attempts
        run.downloaded_bytes += outcome.size


def write_results(files: list[TripletFile], labels: list[str], jobs: list[UrlJob], records: dict[str, UrlOutcome],
                  store: FaceStore, options: DownloadOptions) -> DownloadSummary:
    """Write each CSV's kept subset and summary.json; return the summary."""
    summary, kept_lists = summarize(files, labels, jobs, records, store, options)
    for triplet_file, kept in zip(files, kept_lists):
        write_fec_csv(kept_csv_path(store.root, triplet_file.path), kept)
    write_json(store.root / SUMMARY_NAME, summary.to_dict())
    return summary
