"""Where each file of a download store lives: one place for the names the writers and readers share."""

from __future__ import annotations

from pathlib import Path

DOWNLOAD_RECORDS_NAME = "manifest.jsonl"  # one record per picture URL (an export folder's manifest.json is another thing)
SUMMARY_NAME = "summary.json"
STORE_INFO_NAME = "store.json"
RAW_DIR_NAME = "raw"
LOCK_NAME = ".lock"
KEPT_SUFFIX = ".kept.csv"
STORE_FORMAT = "fec-face-store"
STORE_VERSION = 1


def kept_csv_path(store_root: Path, csv_path: Path) -> Path:
    """Where the kept subset of the CSV `csv_path` goes: `STORE/<csv stem>.kept.csv`."""
    return store_root / f"{csv_path.stem}{KEPT_SUFFIX}"
