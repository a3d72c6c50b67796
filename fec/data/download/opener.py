"""urllib's opener cut down to what a picture URL needs: http(s) only, redirects checked before they
are followed, every connection bound to the attempt's deadline."""

from __future__ import annotations

import string
import urllib.request
from urllib.parse import quote, urljoin

from fec.data.download.deadline import AttemptDeadline, DeadlineHTTPHandler, DeadlineHTTPSHandler
from fec.data.download.outcomes import HTTP_ERROR, PermanentError
from fec.data.download.urls import REMOTE_SCHEMES, url_problem, url_scheme


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


def picture_opener(deadline: AttemptDeadline, allow_private: bool = False) -> urllib.request.OpenerDirector:
    """urllib's opener with only what a picture URL needs (no ftp, file or data handlers), every
    connection bound to `deadline` and, unless `allow_private`, to public addresses."""
    opener = urllib.request.OpenerDirector()
    handlers = [urllib.request.ProxyHandler(), urllib.request.UnknownHandler(), DeadlineHTTPHandler(deadline, allow_private),
                DeadlineHTTPSHandler(deadline, allow_private), urllib.request.HTTPDefaultErrorHandler(), _HttpOnlyRedirects(),
                urllib.request.HTTPErrorProcessor()]
    for handler in handlers:
        opener.add_handler(handler)
    return opener
