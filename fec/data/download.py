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
- each attempt has one wall-clock deadline (--timeout) for connecting, redirects, headers and body,
  enforced on every socket read, so a server that drips bytes cannot hold a worker; only http(s) is
  ever fetched, redirects included; a URL that does not parse is a per-URL failure, never a crash;
- nothing of a file that is not a picture reaches the manifest (no bytes, no hash: a CSV may name any
  local file), only its size;
- faces are cropped with the same steps as `FaceStore.add` (EXIF orientation, box + margin, bicubic
  resize, JPEG) and under the same keys, so training's `FaceStore(...).resolve_triplets` finds them;
  every file is written under a temporary name and renamed, so no partial file has a final name;
- the manifest is appended one JSON line per finished URL, fsynced per record; a torn last line (a kill
  mid-write) is cut off on reload, and a finished run rewrites it with one line per URL. A URL is skipped
  when its last record is `ok` and all its faces are on disk, so a rerun redoes only failures and an
  interrupted run loses nothing it wrote;
- `STORE/store.json` pins face size, margin and alignment: a rerun with other settings is refused, since
  it would put differently made faces under the same keys.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import http.client
import importlib
import importlib.metadata
import importlib.util
import io
import json
import math
import os
import random
import re
import socket
import ssl
import string
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlparse, urlsplit

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from fec.data.face_store import DEFAULT_FACE_SIZE, JPEG_QUALITY, FaceStore, local_source
from fec.data.fec_csv import TripletFile, read_triplets, write_fec_csv
from fec.data.triplets import TRIPLET_TYPES, FaceBox, FaceRef, Triplet
from fec.errors import DataError
from fec.io import atomic_path, write_json
from fec.preprocessing import MAX_IMAGE_PIXELS, crop_box, decode_image

# Per-URL statuses. PERMANENT ones are not retried on a rerun unless asked (--retry-permanent).
OK = "ok"
GONE = "gone"  # 404, 410 or Flickr's "photo unavailable" placeholder
HTTP_ERROR = "http_error"  # any other 4xx (403 private photo, 400, ...) or an unusable URL
NOT_IMAGE = "not_image"  # an HTML page, a truncated or corrupt file, an implausible size
FAILED = "failed"  # transient failures that outlasted every retry: run again later
MISSING = "missing"  # --from-dir or a local path: no such file
STATUSES = (OK, GONE, HTTP_ERROR, NOT_IMAGE, FAILED, MISSING)
PERMANENT = frozenset({GONE, HTTP_ERROR, NOT_IMAGE})
NOT_ATTEMPTED = "not_attempted"  # a triplet reason: the URL has no record yet (interrupted run)
BAD_BOX = "bad_box"  # a triplet reason: the box is empty after rounding on the real picture

GONE_CODES = frozenset({404, 410})
RETRY_CODES = frozenset({408, 425, 429})  # plus every 5xx
PLACEHOLDER_MARKERS = ("photo_unavailable",)  # where Flickr redirects deleted photos

MANIFEST_NAME = "manifest.jsonl"
SUMMARY_NAME = "summary.json"
STORE_INFO_NAME = "store.json"
RAW_DIR_NAME = "raw"
LOCK_NAME = ".lock"
KEPT_SUFFIX = ".kept.csv"
STORE_FORMAT = "fec-face-store"
STORE_VERSION = 1

USER_AGENT = "fec-data-download/1 (+https://github.com/google-research-datasets/fec)"
CHUNK_BYTES = 1 << 16  # at most one socket read per chunk (read1), each bounded by the attempt's deadline
REMOTE_SCHEMES = ("http", "https")  # the only schemes fetched, redirects included
MAX_IMAGE_BYTES = 50 << 20
MIN_IMAGE_SIDE = 16
RAW_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}

Aligner = Callable[[Image.Image, FaceBox, float], "Image.Image | None"]


# ----------------------------------------------------------------------------------------------------
# Options and typed results


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before retrying a transient failure."""

    retries: int = 4
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt `attempt` (0-based): doubling backoff, jittered to
        [50%, 100%], never shorter than the server's Retry-After (itself capped at max_retry_after)."""
        backoff = min(self.max_delay, self.base_delay * 2**attempt) * (0.5 + 0.5 * rng.random())
        if retry_after is None:
            return backoff
        return max(backoff, min(retry_after, self.max_retry_after))


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


@dataclass
class UrlOutcome:
    """What happened to one URL; one manifest line."""

    url: str
    status: str
    http: int | None = None
    error: str = ""
    size: int = 0
    sha256: str = ""
    crops: list[str] = field(default_factory=list)
    bad_faces: dict[str, str] = field(default_factory=dict)  # store key -> why it could not be cropped
    attempts: int = 0
    source: str = ""  # http, raw (kept download), dir (--from-dir), local (a path in the CSV)
    unaligned: int = 0  # faces the aligner found nothing in (stored with the plain crop)

    def to_record(self) -> dict:
        record = {"url": self.url, "status": self.status, "http": self.http, "error": self.error}
        record.update(bytes=self.size, sha256=self.sha256, crops=self.crops, bad_faces=self.bad_faces)
        record.update(attempts=self.attempts, source=self.source)
        if self.unaligned:
            record["unaligned"] = self.unaligned
        return record

    @classmethod
    def from_record(cls, record: dict) -> UrlOutcome:
        return cls(
            url=str(record["url"]),
            status=str(record["status"]),
            http=record.get("http"),
            error=str(record.get("error") or ""),
            size=int(record.get("bytes") or 0),
            sha256=str(record.get("sha256") or ""),
            crops=list(record.get("crops") or []),
            bad_faces=dict(record.get("bad_faces") or {}),
            attempts=int(record.get("attempts") or 0),
            source=str(record.get("source") or ""),
            unaligned=int(record.get("unaligned") or 0),
        )


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

    @property
    def transient_failures(self) -> int:
        return self.summary.urls.get(FAILED, 0)


# ----------------------------------------------------------------------------------------------------
# HTTP: one attempt, then retries


class TransientError(Exception):
    """Worth another try: a timeout, a reset, a truncated body, 429 or 5xx."""

    def __init__(self, message: str, code: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class PermanentError(Exception):
    """Not worth another try: the picture is gone, forbidden or not a picture."""

    def __init__(self, status: str, message: str, code: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class Payload:
    """Encoded picture bytes and where they came from."""

    data: bytes
    source: str
    code: int | None = None
    content_type: str = ""
    attempts: int = 0


def fetch_once(url: str, timeout: float, max_bytes: int = MAX_IMAGE_BYTES) -> Payload:
    """One GET (http(s) redirects followed) that ends within `timeout` seconds in all: connecting, every
    redirect, headers and body share one deadline. Raise TransientError or PermanentError when it fails."""
    check_remote_url(url)
    deadline = AttemptDeadline(timeout)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
        with _opener(deadline).open(request, timeout=timeout) as response:
            final = response.geturl()
            if _is_placeholder(final):
                raise PermanentError(GONE, f"redirected to a 'photo unavailable' placeholder ({final})", response.status)
            data = _read_body(response, max_bytes)
            return Payload(data, "http", response.status, response.headers.get_content_type())
    except urllib.error.HTTPError as exc:
        raise _http_failure(exc) from None
    except urllib.error.URLError as exc:
        raise TransientError(f"connection failed: {_describe(exc.reason, timeout)}") from None
    except http.client.InvalidURL as exc:
        raise PermanentError(HTTP_ERROR, f"unusable URL ({exc})") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise TransientError(_describe(exc, timeout)) from None
    except ValueError as exc:  # a URL urllib cannot even parse
        raise PermanentError(HTTP_ERROR, f"unusable URL ({exc})") from None
    except OSError as exc:
        raise TransientError(_describe(exc, timeout)) from None


def _read_body(response, max_bytes: int) -> bytes:
    """The body, one socket read at a time (read1), so the attempt's deadline is checked as bytes arrive."""
    expected = _content_length(response.headers.get("Content-Length"))
    if expected is not None and expected > max_bytes:
        raise PermanentError(NOT_IMAGE, f"too large ({expected} bytes, limit {max_bytes})", response.status)
    chunks, size = [], 0
    while chunk := response.read1(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise PermanentError(NOT_IMAGE, f"too large (over {max_bytes} bytes)", response.status)
        chunks.append(chunk)
    if expected is not None and size < expected:
        raise TransientError(f"truncated body ({size} of {expected} bytes)", response.status)
    return b"".join(chunks)


def _content_length(value: str | None) -> int | None:
    return int(value) if value and _is_number(value.strip()) else None


def _is_number(text: str) -> bool:
    """ASCII digits only: str.isdigit also accepts '²' or '٣', which int() and float() refuse or misread."""
    return text.isascii() and text.isdigit()


def _http_failure(exc: urllib.error.HTTPError) -> Exception:
    code = exc.code
    retry_after = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
    exc.close()
    if code in GONE_CODES:
        return PermanentError(GONE, f"HTTP {code}", code)
    if code in RETRY_CODES or code >= 500:
        return TransientError(f"HTTP {code}", code, retry_after)
    return PermanentError(HTTP_ERROR, f"HTTP {code}", code)


def _is_placeholder(url: str) -> bool:
    return any(marker in url for marker in PLACEHOLDER_MARKERS)


def _describe(reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g}s"
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
    return str(reason)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if _is_number(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


# ----------------------------------------------------------------------------------------------------
# HTTP: one wall-clock deadline per attempt, http(s) only


class AttemptDeadline:
    """The wall-clock end of one attempt. A socket timeout bounds each read, not the attempt: a server
    that drips a byte every few seconds (status line, headers or body) would hold a worker for hours.
    So every socket the attempt opens gets, before each connect, handshake, send and read, only the time
    left, and a read after the end raises TimeoutError. (Name resolution is not covered: it cannot be
    interrupted without a thread per lookup.)"""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out after {self.seconds:g}s")
        return remaining

    def bind(self, sock: socket.socket) -> _DeadlineSocket:
        """`sock` as a socket whose every read and send gets only the time left."""
        bound = _DeadlineSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        bound.deadline = self
        bound.settimeout(self.left())
        return bound


class _DeadlineSocket(socket.socket):
    """A TCP socket that shortens its timeout to the attempt's time left before each read and send
    (http.client reads a response through `makefile`, which calls recv_into)."""

    deadline: AttemptDeadline | None = None

    def _tighten(self) -> None:
        if self.deadline is not None:
            self.settimeout(self.deadline.left())

    def recv_into(self, buffer, nbytes=0, flags=0):
        self._tighten()
        return super().recv_into(buffer, nbytes, flags)

    def recv(self, bufsize, flags=0):
        self._tighten()
        return super().recv(bufsize, flags)

    def sendall(self, data, flags=0):
        self._tighten()
        return super().sendall(data, flags)


class _DeadlineSSLSocket(ssl.SSLSocket):
    """The TLS layer over a _DeadlineSocket: the same shortening for encrypted reads and sends (the
    handshake itself runs under the timeout the raw socket had, already the time left)."""

    deadline: AttemptDeadline | None = None

    def _tighten(self) -> None:
        if self.deadline is not None:
            self.settimeout(self.deadline.left())

    def recv_into(self, buffer, nbytes=None, flags=0):
        self._tighten()
        return super().recv_into(buffer, nbytes, flags)

    def recv(self, buflen=1024, flags=0):
        self._tighten()
        return super().recv(buflen, flags)

    def sendall(self, data, flags=0):
        self._tighten()
        return super().sendall(data, flags)


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """Default certificate checks, made once (loading the CAs is slow); wraps sockets as _DeadlineSSLSocket."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    context.sslsocket_class = _DeadlineSSLSocket
    return context


class _DeadlineConnection:
    """Mixin for http.client connections: every socket they open is bound to the attempt's deadline."""

    def __init__(self, *args, deadline: AttemptDeadline, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = deadline
        self._create_connection = self._open_socket

    def _open_socket(self, address, timeout, source_address=None) -> socket.socket:
        """Connect within the time left (never more than `timeout`, the attempt's own)."""
        return self.deadline.bind(socket.create_connection(address, self.deadline.left(), source_address))


class _DeadlineHTTPConnection(_DeadlineConnection, http.client.HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_DeadlineConnection, http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.deadline = self.deadline


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: AttemptDeadline):
        super().__init__()
        self.deadline = deadline

    def http_open(self, req):
        return self.do_open(_DeadlineHTTPConnection, req, deadline=self.deadline)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: AttemptDeadline):
        super().__init__()
        self.deadline = deadline

    def https_open(self, req):
        return self.do_open(_DeadlineHTTPSConnection, req, context=_tls_context(), deadline=self.deadline)


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a well-formed http(s) URL. urllib itself follows ftp:// and fails on a
    Location it cannot parse with a bare ValueError; a picture URL that leads anywhere else is refused,
    permanently, with the target named."""

    def http_error_302(self, req, fp, code, msg, headers):
        location = headers.get("Location") or headers.get("URI")
        problem = _redirect_problem(req.full_url, location) if location is not None else ""
        if problem:
            fp.close()
            raise PermanentError(HTTP_ERROR, problem, code)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _redirect_problem(base: str, location: str) -> str:
    """Why the redirect to `location` is not followed ('' when it is). The target is checked as urllib
    will request it: percent-encoded (a space in a Location is fine) and joined to the current URL."""
    shown = location if len(location) <= 200 else location[:200] + "..."
    try:
        target = urljoin(base, quote(location.strip(), encoding="iso-8859-1", safe=string.punctuation))
    except ValueError as exc:
        return f"redirected to a malformed URL ({exc}): {shown}"
    scheme = url_scheme(target)
    if scheme not in REMOTE_SCHEMES:
        return f"redirect to {scheme + ':' if scheme else 'a non-URL'} refused (only http and https are followed): {shown}"
    problem = url_problem(target)
    return f"redirected to a malformed URL ({problem}): {shown}" if problem else ""


def _opener(deadline: AttemptDeadline) -> urllib.request.OpenerDirector:
    """urllib's opener with only what a picture URL needs (no ftp, file or data handlers), every
    connection bound to `deadline`."""
    opener = urllib.request.OpenerDirector()
    handlers = [urllib.request.ProxyHandler(), urllib.request.UnknownHandler(), _DeadlineHTTPHandler(deadline),
                _DeadlineHTTPSHandler(deadline), urllib.request.HTTPDefaultErrorHandler(), _HttpOnlyRedirects(),
                urllib.request.HTTPErrorProcessor()]
    for handler in handlers:
        opener.add_handler(handler)
    return opener


def fetch_with_retries(
    url: str,
    fetch: Callable[[str], Payload],
    policy: RetryPolicy,
    stop: threading.Event,
    rng: random.Random,
) -> Payload | UrlOutcome:
    """The payload, or the failure outcome once a permanent error or the last retry is reached."""
    attempt = 0
    while True:
        attempt += 1
        try:
            payload = fetch(url)
        except PermanentError as exc:
            return UrlOutcome(url, exc.status, http=exc.code, error=str(exc), attempts=attempt, source="http")
        except TransientError as exc:
            last_try = attempt > policy.retries
            if last_try or stop.wait(policy.delay(attempt - 1, exc.retry_after, rng)):
                error = str(exc) if last_try else f"{exc} (interrupted)"
                return UrlOutcome(url, FAILED, http=exc.code, error=error, attempts=attempt, source="http")
        else:
            payload.attempts = attempt
            return payload


# ----------------------------------------------------------------------------------------------------
# Pictures: validate, crop, write


def load_picture(payload: Payload, name: str) -> tuple[Image.Image, str]:
    """Decode fully (EXIF orientation applied) after checking the size is plausible; (RGB image, format)."""
    if payload.content_type.startswith("text/"):
        raise PermanentError(NOT_IMAGE, f"not an image ({payload.content_type} page, {len(payload.data)} bytes)")
    try:
        with Image.open(io.BytesIO(payload.data)) as probe:
            width, height = probe.size
            fmt = probe.format or ""
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        kind = f"{payload.content_type}, " if payload.content_type else ""  # never content: it may be a local secret
        raise PermanentError(NOT_IMAGE, f"not an image ({kind}{len(payload.data)} bytes)") from None
    if min(width, height) < MIN_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise PermanentError(NOT_IMAGE, f"implausible picture size {width}x{height}")
    try:
        return decode_image(payload.data, name), fmt
    except DataError as exc:
        raise PermanentError(NOT_IMAGE, str(exc)) from None


def crop_face(picture: Image.Image, face: FaceRef, store: FaceStore, aligner: Aligner | None) -> tuple[Image.Image, bool]:
    """The stored face (same steps as FaceStore.add) and whether the aligner handled it."""
    region = aligner(picture, face.box, store.margin) if aligner else None
    aligned = region is not None
    if region is None:
        region = crop_box(picture, face.box, store.margin)
    return region.resize((store.face_size, store.face_size), resample=Image.BICUBIC), aligned


def write_face(store: FaceStore, face: FaceRef, crop: Image.Image) -> Path:
    target = store.path(face)
    with atomic_path(target) as tmp:
        crop.save(tmp, format="JPEG", quality=JPEG_QUALITY)
    return target


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


def is_remote(url: str) -> bool:
    """Fetched over HTTP (http or https), also when the rest of the URL is malformed: such a URL then
    fails as a bad URL, permanently, not as a missing local file."""
    return url_scheme(url) in REMOTE_SCHEMES


_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.-]*):")
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f]")  # what http.client refuses in a request line


def url_scheme(url: str) -> str:
    """The scheme, lower-case ('' for a plain path); never raises, unlike urlsplit on a bad host."""
    try:
        return urlsplit(url).scheme
    except ValueError:  # 'http://[::1': the scheme is still the text before the first colon
        match = _SCHEME.match(url)
        return match.group(1).lower() if match else ""


def url_problem(url: str) -> str:
    """Why `url` cannot be used ('' when it can): urlsplit raises ValueError on a bracket without its
    pair ('http://[::1') or a bad port, and urllib would crash, or retry forever, on a missing host or
    a space. Checked before any use, so each such URL is one permanent failure, not a crashed run."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0-65535
    except ValueError as exc:
        return str(exc) or type(exc).__name__
    if parts.scheme not in REMOTE_SCHEMES:
        return ""
    if not parts.hostname:
        return "no host"
    if _BAD_URL_CHARS.search(url):
        return "contains a space or a control character"
    return ""


def check_remote_url(url: str) -> None:
    """Raise PermanentError unless `url` is a well-formed http(s) URL."""
    problem = url_problem(url)
    if problem:
        raise PermanentError(HTTP_ERROR, f"malformed URL ({problem})")
    if not is_remote(url):
        raise PermanentError(HTTP_ERROR, f"not an http(s) URL (scheme: {url_scheme(url) or 'none'})")


# ----------------------------------------------------------------------------------------------------
# --from-dir: pictures the user already has


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
        mapping[fields[0]] = root / fields[1]
    return mapping


# ----------------------------------------------------------------------------------------------------
# Face alignment plug-ins


@dataclass(frozen=True)
class KnownAligner:
    module: str
    package: str
    factory: Callable[[], Aligner]


def _mtcnn_aligner() -> Aligner:
    """facenet-pytorch's MTCNN: find the eyes inside the box, level them, crop the box again."""
    import numpy as np
    from facenet_pytorch import MTCNN

    detector = MTCNN(keep_all=True, post_process=False, device="cpu")
    lock = threading.Lock()  # one detector shared by the worker threads

    def align(picture: Image.Image, box: FaceBox, margin: float) -> Image.Image | None:
        region = crop_box(picture, box, margin)
        with lock:
            boxes, _, landmarks = detector.detect(region, landmarks=True)
        if boxes is None or landmarks is None or len(boxes) == 0:
            return None
        areas = (np.asarray(boxes)[:, 2] - np.asarray(boxes)[:, 0]) * (np.asarray(boxes)[:, 3] - np.asarray(boxes)[:, 1])
        (x1, y1), (x2, y2) = np.asarray(landmarks)[int(np.argmax(areas))][:2]
        left, top = _crop_origin(picture, box, margin)
        centre = (left + (x1 + x2) / 2, top + (y1 + y2) / 2)
        angle = math.degrees(math.atan2(y2 - y1, x2 - x1))
        return crop_box(picture.rotate(angle, resample=Image.BICUBIC, center=centre), box, margin)

    return align


def _crop_origin(picture: Image.Image, box: FaceBox, margin: float) -> tuple[int, int]:
    """Top-left pixel of `crop_box(picture, box, margin)` in the picture."""
    width, height = picture.size
    left = max(0.0, box.left - margin * (box.right - box.left)) * width
    top = max(0.0, box.top - margin * (box.bottom - box.top)) * height
    return round(left), round(top)


KNOWN_ALIGNERS = {"mtcnn": KnownAligner("facenet_pytorch", "facenet-pytorch", _mtcnn_aligner)}
ALIGNER_ENTRY_POINTS = "fec.aligners"


def load_aligner(spec: str) -> Aligner:
    """A known name (mtcnn), an installed `fec.aligners` entry point, or `module:factory`; the factory
    returns `align(picture, box, margin) -> face image or None`. Missing packages are named."""
    if spec in KNOWN_ALIGNERS:
        known = KNOWN_ALIGNERS[spec]
        _require(known.module, known.package, spec)
        return known.factory()
    for entry in importlib.metadata.entry_points(group=ALIGNER_ENTRY_POINTS):
        if entry.name == spec:
            return entry.load()()
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        module = _require(module_name, module_name.split(".")[0], spec)
        factory = getattr(module, attribute, None)
        if not callable(factory):
            raise DataError(f"--align {spec}: {module_name} has no callable {attribute!r}")
        return factory()
    names = ", ".join(sorted(KNOWN_ALIGNERS))
    raise DataError(f"--align {spec}: unknown aligner (known: {names}; or an installed {ALIGNER_ENTRY_POINTS} entry point, "
                    "or module:factory)")


def _require(module_name: str, package: str, spec: str):
    try:
        found = importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise DataError(f"--align {spec} needs the package {package}, which is not installed (pip install {package})")
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise DataError(f"--align {spec}: {package} is installed but does not import ({exc})") from None


# ----------------------------------------------------------------------------------------------------
# The manifest: one JSON line per URL outcome, last line per URL wins


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


# ----------------------------------------------------------------------------------------------------
# The store: settings, lock, leftovers


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


# ----------------------------------------------------------------------------------------------------
# Planning: which URL carries which faces, which are done


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


# ----------------------------------------------------------------------------------------------------
# One URL, in a worker thread


class UrlWorker:
    """Get one URL's picture (kept raw, --from-dir, local path or HTTP), validate it, store its faces."""

    def __init__(self, store: FaceStore, options: DownloadOptions, aligner: Aligner | None, directory: RawDirectory | None,
                 stop: threading.Event, fetch: Callable[[str], Payload] | None = None):
        self.store = store
        self.options = options
        self.aligner = aligner
        self.directory = directory
        self.stop = stop
        self.fetch = fetch or (lambda url: fetch_once(url, options.timeout, options.max_bytes))
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
            return self.read_local(job.url, local_source(job.url, job.base_dir), source)
        return fetch_with_retries(job.url, self.fetch, self.options.retry, self.stop, self.rng)

    def read_local(self, url: str, path: Path | None, source: str) -> Payload | UrlOutcome:
        """The file's bytes, or a per-URL failure: a CSV may name any path (missing, unreadable, a name
        too long, a huge file), and none of that may stop the run."""
        limit = self.options.max_bytes
        try:
            if path is None or not path.is_file():
                where = f" ({path})" if path is not None else ""
                return UrlOutcome(url, MISSING, error=f"no local picture for this URL{where}", source=source)
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
        except OSError as exc:
            return UrlOutcome(url, MISSING, error=f"cannot read {path} ({exc.strerror or type(exc).__name__})", source=source)
        if len(data) > limit:
            return UrlOutcome(url, NOT_IMAGE, error=f"too large (over {limit} bytes)", source=source)
        return Payload(data, source)

    def store_faces(self, job: UrlJob, picture: Image.Image, outcome: UrlOutcome) -> None:
        for face in job.faces:
            try:
                crop, aligned = crop_face(picture, face, self.store, self.aligner)
            except DataError as exc:
                outcome.bad_faces[self.store.key(face)] = str(exc)
                continue
            path = write_face(self.store, face, crop)
            outcome.crops.append(path.relative_to(self.store.root).as_posix())
            outcome.unaligned += self.aligner is not None and not aligned


# ----------------------------------------------------------------------------------------------------
# The pool


def run_bounded(jobs: Iterable[UrlJob], worker: Callable[[UrlJob], UrlOutcome], workers: int,
                stop: threading.Event) -> Iterator[UrlOutcome]:
    """Yield outcomes as they finish, with at most 2 x `workers` jobs queued; on any interruption the
    queued ones are cancelled and the running ones told to stop retrying."""
    queue = iter(jobs)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fec-download") as pool:
        pending: set[Future] = set()
        try:
            while True:
                while len(pending) < 2 * workers and (job := next(queue, None)) is not None:
                    pending.add(pool.submit(worker, job))
                if not pending:
                    return
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        finally:
            stop.set()
            for future in pending:
                future.cancel()


class Progress:
    """tqdm bar over all URLs with done / failed / remaining counts (disabled unless asked)."""

    def __init__(self, jobs: list[UrlJob], todo: list[UrlJob], records: dict[str, UrlOutcome], enabled: bool):
        pending = {job.url for job in todo}
        self.was_failed = {job.url for job in jobs if job.url in records and records[job.url].status != OK}
        self.done = sum(1 for job in jobs if job.url not in pending and job.url in records and records[job.url].status == OK)
        self.failed = len(self.was_failed)
        self.remaining = len(jobs) - self.done - self.failed
        self.bar = tqdm(total=len(jobs), initial=self.done + self.failed, unit="url", desc="download",
                        disable=not enabled, dynamic_ncols=True)
        self.show()

    def update(self, outcome: UrlOutcome) -> None:
        if outcome.url in self.was_failed:
            self.failed -= 1
            self.was_failed.discard(outcome.url)
        else:
            self.remaining -= 1
        if outcome.status == OK:
            self.done += 1
        else:
            self.failed += 1
            self.was_failed.add(outcome.url)
        self.show()

    def show(self) -> None:
        self.bar.n = self.done + self.failed
        self.bar.set_postfix(done=self.done, failed=self.failed, remaining=self.remaining)

    def close(self) -> None:
        self.bar.close()


# ----------------------------------------------------------------------------------------------------
# Summary


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
        kept_path = store.root / f"{triplet_file.path.stem}{KEPT_SUFFIX}"
        csv_summary, kept = summarize_csv(triplet_file, states, kept_path, label)
        csvs.append(csv_summary)
        kept_lists.append(kept)
    summary = DownloadSummary(options.face_size, options.margin, options.align, urls, faces, csvs)
    return summary, kept_lists


# ----------------------------------------------------------------------------------------------------
# The command's library entry point


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
    root = Path(options.out)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: --out must be a folder (the face store), not a file")
    root.mkdir(parents=True, exist_ok=True)
    store = FaceStore(root, options.face_size, options.margin)
    with store_lock(root):
        check_store_info(root, options)
        remove_stale_temporaries(root)
        records = load_manifest(root / MANIFEST_NAME)
        todo = [job for job in jobs if not is_done(job, records.get(job.url), store, options)]
        run = RunStats(urls=len(jobs), skipped=len(jobs) - len(todo))
        worker = UrlWorker(store, options, aligner, directory, threading.Event(), fetch)
        process_jobs(jobs, todo, worker, records, root / MANIFEST_NAME, run, options)
        compact_manifest(root / MANIFEST_NAME, records, jobs)
        summary, kept_lists = summarize(files, [str(p) for p in csv_paths], jobs, records, store, options)
        for triplet_file, kept in zip(files, kept_lists):
            write_fec_csv(root / f"{triplet_file.path.stem}{KEPT_SUFFIX}", kept)
        write_json(root / SUMMARY_NAME, summary.to_dict())
    run.seconds = time.monotonic() - started
    return DownloadReport(summary, run, root, root / MANIFEST_NAME, root / SUMMARY_NAME)


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
