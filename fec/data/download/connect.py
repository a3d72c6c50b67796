"""Opening the TCP connection of one picture attempt: the host's name resolved within the attempt's deadline,
and only public addresses connected to unless private ones are allowed.

A CSV may name any URL. Without a check, `http://169.254.169.254/...` (a cloud's metadata service),
`http://localhost:8080/admin` or a public name that resolves to 10.0.0.5 would make the download send GET
requests into the machine's own network. The address is checked after resolution, and the connection goes
to the address that was checked, so a name that resolves differently on a second look changes nothing;
redirects open their connections the same way. A proxy the user configured (http_proxy, https_proxy) is
their own infrastructure: connections to it are not checked, and what it connects to is its business.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fec.data.download.outcomes import REFUSED, PermanentError

if TYPE_CHECKING:
    from fec.data.download.deadline import AttemptDeadline

# Name look-ups cannot be interrupted, so each runs on this pool and the attempt waits only for its time left.
# A look-up that hangs keeps its thread until the resolver gives up; the pool's size caps how many can.
RESOLVER_THREADS = 8
_resolver = ThreadPoolExecutor(max_workers=RESOLVER_THREADS, thread_name_prefix="fec-dns")
ALLOW_PRIVATE_FLAG = "--allow-private-hosts"


class LookupTimeout(TimeoutError):
    """The host's name was not resolved within the attempt's time left (its message says so)."""


def resolve(host: str, port: int, deadline: AttemptDeadline) -> list[tuple]:
    """getaddrinfo for a TCP connection to (host, port), within the attempt's time left (LookupTimeout after)."""
    lookup = _resolver.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        return lookup.result(timeout=deadline.left())
    except FutureTimeout:
        raise LookupTimeout(f"name look-up of {host} timed out after {deadline.seconds:g}s") from None


def is_public(address: str) -> bool:
    """Globally routable unicast: not loopback, private, link-local, shared (CGNAT), reserved or multicast
    (an IPv4 address written as IPv6, ::ffff:a.b.c.d, is judged as the IPv4 one)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) is no part of the address
    mapped = getattr(ip, "ipv4_mapped", None)
    ip = mapped or ip
    return ip.is_global and not ip.is_multicast


def open_connection(address: tuple[str, int], deadline: AttemptDeadline, allow_private: bool,
                    source_address: tuple[str, int] | None = None) -> socket.socket:
    """A socket connected to `address` (host, port) within the time left: the first resolved address that is
    allowed and answers. Raise PermanentError(REFUSED) when every address is private and that is not allowed."""
    host, port = address
    unchecked = allow_private or is_configured_proxy(host, port)
    infos = resolve(host, port, deadline)
    allowed = [info for info in infos if unchecked or is_public(info[4][0])]
    if not allowed:
        shown = ", ".join(sorted({info[4][0] for info in infos}))
        raise PermanentError(REFUSED, f"{host} resolves to a private or local address ({shown}); pictures are fetched "
                                      f"only from public hosts unless {ALLOW_PRIVATE_FLAG} is given")
    failure: OSError | None = None
    for family, kind, proto, _, sockaddr in allowed:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(deadline.left())
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            failure = exc
    raise failure


def is_configured_proxy(host: str, port: int) -> bool:
    """Whether (host, port) is a proxy from the environment (urllib's getproxies: http_proxy and the like)."""
    for scheme, url in urllib.request.getproxies().items():
        if scheme == "no":  # no_proxy: a list of hosts, not a proxy
            continue
        try:
            parts = urlsplit(url if "://" in url else f"http://{url}")
            default_port = 443 if parts.scheme == "https" else 80
            if parts.hostname == host.lower() and (parts.port or default_port) == port:
                return True
        except ValueError:
            continue
    return False
