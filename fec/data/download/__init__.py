"""Fetch the FEC pictures into the face store, and say exactly which subset survived.

Why: the FEC CSVs list ~156K Flickr URLs and many are dead. The original implementation lost thousands
of pictures without a word and trained and tested on an unstated subset. Here every URL gets a manifest
record (status, HTTP code or error, bytes, sha256, crop files), every CSV gets its kept subset
(`STORE/<csv stem>.kept.csv`) and a summary of what was dropped and why, so every later number is on a
stated subset.

How it stays correct when the network does not cooperate:
- each unique URL is fetched once (many triplets share pictures), by a bounded pool of threads;
  transient failures (timeouts, resets, truncated bodies, 429, 5xx) are retried with exponential
  backoff and jitter, honouring Retry-After; permanent ones (404/410, Flickr's "photo unavailable"
  placeholder, other 4xx, a body that is not an image, a malformed URL) are not;
- each attempt has one wall-clock deadline (--timeout) for the name look-up, connecting, redirects,
  headers and body, enforced on every socket read, so a server that drips bytes cannot hold a worker;
  only http(s) is ever fetched, redirects included; a URL that does not parse is a per-URL failure,
  never a crash;
- only public addresses are connected to (checked on the resolved address; `refused` otherwise), unless
  --allow-private-hosts: a CSV cannot make the download probe the machine's own network;
- nothing of a file that is not a picture reaches the manifest (no bytes, no hash: a CSV may name any
  local file), only its size;
- faces are cropped by `FaceStore.add_from_image`, the one place every stored face is made (EXIF
  orientation, box + margin, bicubic resize, JPEG), under the same keys, so training's
  `FaceStore(...).resolve_triplets` finds them; every file is written under a temporary name and
  renamed, so no partial file has a final name;
- the manifest is appended one JSON line per finished URL, fsynced per record; a torn last line (a kill
  mid-write) is cut off on reload, and a finished run rewrites it with one line per URL. A URL is skipped
  when its last record is `ok` and all its faces are on disk, so a rerun redoes only failures and an
  interrupted run loses nothing it wrote;
- `STORE/store.json` pins face size, margin and alignment: a rerun with other settings is refused, since
  it would put differently made faces under the same keys.

The modules, bottom to top: layout (file names), outcomes (statuses, payload, failures, manifest record),
retry, options, urls, connect, deadline, opener, fetch, pictures, raw_pictures, aligners, plan, manifest, store,
worker, pool, progress, summary, run (the `download` entry point).
"""

from fec.data.download.layout import DOWNLOAD_RECORDS_NAME, KEPT_SUFFIX, RAW_DIR_NAME, STORE_INFO_NAME, SUMMARY_NAME
from fec.data.download.manifest import load_manifest
from fec.data.download.options import DownloadOptions
from fec.data.download.outcomes import (
    BAD_BOX,
    FAILED,
    GONE,
    HTTP_ERROR,
    MISSING,
    NOT_ATTEMPTED,
    NOT_IMAGE,
    OK,
    PERMANENT,
    REFUSED,
    STATUSES,
    UrlOutcome,
)
from fec.data.download.report_text import format_report
from fec.data.download.retry import RetryPolicy
from fec.data.download.run import DownloadReport, RunStats, download
from fec.data.download.summary import CsvSummary, DownloadSummary

__all__ = [
    "BAD_BOX", "FAILED", "GONE", "HTTP_ERROR", "KEPT_SUFFIX", "DOWNLOAD_RECORDS_NAME", "MISSING", "NOT_ATTEMPTED", "NOT_IMAGE",
    "OK", "PERMANENT", "RAW_DIR_NAME", "REFUSED", "STATUSES", "STORE_INFO_NAME", "SUMMARY_NAME",
    "CsvSummary", "DownloadOptions", "DownloadReport", "DownloadSummary", "RetryPolicy", "RunStats", "UrlOutcome",
    "format_report",
    "download", "load_manifest",
]
