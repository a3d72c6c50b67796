"""What obtaining one URL can produce: the status vocabulary, the picture bytes, the two kinds of failure,
and the per-URL record the manifest stores."""

from __future__ import annotations

from dataclasses import dataclass, field

# Per-URL statuses. PERMANENT ones are not retried on a rerun unless asked (--retry-permanent).
OK = "ok"
GONE = "gone"  # 404, 410 or Flickr's "photo unavailable" placeholder
HTTP_ERROR = "http_error"  # any other 4xx (403 private photo, 400, ...) or an unusable URL
NOT_IMAGE = "not_image"  # an HTML page, a truncated or corrupt file, an implausible size
FAILED = "failed"  # transient failures that outlasted every retry: run again later
MISSING = "missing"  # --from-dir or a local path: no such file
REFUSED = "refused"  # a local path outside the data folder (--data-root) or not usable as a picture: never read
STATUSES = (OK, GONE, HTTP_ERROR, NOT_IMAGE, FAILED, MISSING, REFUSED)
PERMANENT = frozenset({GONE, HTTP_ERROR, NOT_IMAGE})
NOT_ATTEMPTED = "not_attempted"  # a triplet reason: the URL has no record yet (interrupted run)
BAD_BOX = "bad_box"  # a triplet reason: the box is empty after rounding on the real picture


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
