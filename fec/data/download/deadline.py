"""One wall-clock deadline per attempt, enforced on every connect, handshake, send and read of every
socket the attempt opens, so a server that drips bytes cannot hold a worker."""

from __future__ import annotations

import functools
import http.client
import socket
import ssl
import time
import urllib.request

from fec.data.download.connect import open_connection


class AttemptDeadline:
    """The wall-clock end of one attempt. A socket timeout bounds each read, not the attempt: a server
    that drips a byte every few seconds (status line, headers or body) would hold a worker for hours.
    So every socket the attempt opens gets, before each connect, handshake, send and read, only the time
    left, and a read after the end raises TimeoutError. Name resolution waits only for the time left too
    (fec.data.download.connect runs it on a small thread pool)."""

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
    """Mixin for http.client connections: every socket they open is bound to the attempt's deadline and
    connects only where fec.data.download.connect allows."""

    def __init__(self, *args, deadline: AttemptDeadline, allow_private: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = deadline
        self.allow_private = allow_private
        self._create_connection = self._open_socket

    def _open_socket(self, address, timeout, source_address=None) -> socket.socket:
        """Resolve and connect within the time left (never more than `timeout`, the attempt's own)."""
        return self.deadline.bind(open_connection(address, self.deadline, self.allow_private, source_address))


class _DeadlineHTTPConnection(_DeadlineConnection, http.client.HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_DeadlineConnection, http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.deadline = self.deadline


class DeadlineHTTPHandler(urllib.request.HTTPHandler):
    """urllib's http handler with every connection bound to `deadline` (and to public hosts unless `allow_private`)."""

    def __init__(self, deadline: AttemptDeadline, allow_private: bool = False):
        super().__init__()
        self.deadline, self.allow_private = deadline, allow_private

    def http_open(self, req):
        return self.do_open(_DeadlineHTTPConnection, req, deadline=self.deadline, allow_private=self.allow_private)


class DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    """urllib's https handler with every connection bound to `deadline` (and to public hosts unless `allow_private`)."""

    def __init__(self, deadline: AttemptDeadline, allow_private: bool = False):
        super().__init__()
        self.deadline, self.allow_private = deadline, allow_private

    def https_open(self, req):
        return self.do_open(_DeadlineHTTPSConnection, req, context=_tls_context(), deadline=self.deadline,
                            allow_private=self.allow_private)
