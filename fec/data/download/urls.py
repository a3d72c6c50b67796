"""Telling a usable picture URL from one that is not, without ever raising on malformed input."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fec.data.download.outcomes import HTTP_ERROR, PermanentError

REMOTE_SCHEMES = ("http", "https")  # the only schemes fetched, redirects included

_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.-]*):")
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f]")  # what http.client refuses in a request line


def is_remote(url: str) -> bool:
    """Fetched over HTTP (http or https), also when the rest of the URL is malformed: such a URL then
    fails as a bad URL, permanently, not as a missing local file."""
    return url_scheme(url) in REMOTE_SCHEMES


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
