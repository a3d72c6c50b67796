"""The manifest (STORE/manifest.jsonl): one JSON line per URL outcome, the last line per URL winning,
written so that a kill loses at most the line being written."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fec.data.download.outcomes import UrlOutcome
from fec.data.download.plan import UrlJob
from fec.io import atomic_path


def load_manifest(path: Path) -> dict[str, UrlOutcome]:
    """The last record per URL; a torn last line (killed mid-write) is cut off the file."""
    if not path.exists():
        return {}
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        with open(path, "r+b") as handle:
            handle.truncate(len(complete))
    records = {}
    for line in complete.splitlines():
        try:
            outcome = UrlOutcome.from_record(json.loads(line))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # not ours or damaged: the URL is simply redone
        records[outcome.url] = outcome
    return records


class ManifestWriter:
    """Appends one record per line, flushed and fsynced, so a kill loses at most the line being written."""

    def __init__(self, path: Path):
        self.handle = open(path, "a", encoding="utf-8")

    def append(self, outcome: UrlOutcome) -> None:
        self.handle.write(json.dumps(outcome.to_record(), sort_keys=False) + "\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        self.handle.close()


def compact_manifest(path: Path, records: dict[str, UrlOutcome], jobs: list[UrlJob]) -> None:
    """Rewrite the manifest with one line per URL (this run's URLs in CSV order, then older ones),
    atomically, so a finished run leaves the same manifest however often it was interrupted."""
    order = [job.url for job in jobs if job.url in records]
    listed = set(order)
    order += [url for url in records if url not in listed]
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(records[url].to_record()) + "\n" for url in order)
            handle.flush()
            os.fsync(handle.fileno())
