"""One HTTP attempt at a picture URL, and the sorting of what went wrong into transient (retry) and
permanent (don't) failures."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from fec.data.download.connect import LookupTimeout
from fec.data.download.deadline import AttemptDeadline
from fec.data.download.opener import picture_opener
from fec.data.download.options import MAX_IMAGE_BYTES
from fec.data.download.outcomes import GONE, HTTP_ERROR, NOT_IMAGE, Payload, PermanentError, TransientError
from fec.data.download.urls import check_remote_url

USER_AGENT = "fec-data-download/1 (+https://github.com/google-research-datasets/fec)"
CHUNK_BYTES = 1 << 16  # at most one socket read per chunk (read1), each bounded by the attempt's deadline
GONE_CODES = frozenset({404, 410})
RETRY_CODES = frozenset({408, 425, 429})  # plus every 5xx
PLACEHOLDER_MARKERS = ("photo_unavailable",)  # where Flickr redirects deleted photos


def fetch_once(url: str, timeout: float, max_bytes: int = MAX_IMAGE_BYTES, allow_private: bool = False) -> Payload:
    """One GET (http(s) redirects followed) that ends within `timeout` seconds in all: resolving, connecting,
    every redirect, headers and body share one deadline. Only public hosts, unless `allow_private`
    (fec.data.download.connect). Raise TransientError or PermanentError when it fails."""
    check_remote_url(url)
    try:
        return _get(url, timeout, max_bytes, allow_private)
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


def _get(url: str, timeout: float, max_bytes: int, allow_private: bool) -> Payload:
    """The GET itself, under one AttemptDeadline; fetch_once sorts what it raises."""
    deadline = AttemptDeadline(timeout)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
    with picture_opener(deadline, allow_private).open(request, timeout=timeout) as response:
        final = response.geturl()
        if _is_placeholder(final):
            raise PermanentError(GONE, f"redirected to a 'photo unavailable' placeholder ({final})", response.status)
        data = _read_body(response, max_bytes)
        return Payload(data, "http", response.status, response.headers.get_content_type())


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
    if isinstance(reason, LookupTimeout):
        return str(reason)
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
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
