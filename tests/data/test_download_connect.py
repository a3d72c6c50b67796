"""Where a download may connect: public addresses only unless --allow-private-hosts, checked on the resolved
address; the name look-up inside the attempt's deadline; the user's own proxy exempt."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from fec.data import download as dl
from fec.data.download import connect
from fec.data.download.fetch import fetch_once
from fec.data.download.outcomes import REFUSED, PermanentError, TransientError
from fec.data.fec_csv import write_fec_csv
from fec.data.triplets import FaceBox, FaceRef, Triplet, TripletType


@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("2001:4860:4860::8888", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.0.7", False), ("172.16.5.4", False),
    ("169.254.169.254", False),  # a cloud's metadata service
    ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False), ("::1", False), ("fe80::1%eth0", False),
    ("fc00::5", False), ("::ffff:127.0.0.1", False), ("::ffff:8.8.8.8", True),
])
def test_only_globally_routable_unicast_addresses_are_public(address, public):
    assert connect.is_public(address) is public


@pytest.fixture
def listener():
    """A TCP socket on 127.0.0.1 that accepts nothing by itself: whether a connection reached it can be read."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.setblocking(False)
        yield sock


def reached(listener: socket.socket) -> bool:
    try:
        listener.accept()[0].close()
        return True
    except BlockingIOError:
        return False


def test_a_loopback_url_is_refused_before_any_connection(listener):
    port = listener.getsockname()[1]
    with pytest.raises(PermanentError) as caught:
        fetch_once(f"http://127.0.0.1:{port}/a.jpg", timeout=2)
    assert caught.value.status == REFUSED
    assert str(caught.value) == ("127.0.0.1 resolves to a private or local address (127.0.0.1); pictures are fetched "
                                 "only from public hosts unless --allow-private-hosts is given")
    assert not reached(listener)


def test_a_public_name_resolving_to_a_private_address_is_refused(monkeypatch, listener):
    port = listener.getsockname()[1]
    looked_up = []

    def rebinding(host, port, family=0, kind=0, *rest):
        looked_up.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))]

    monkeypatch.setattr(connect.socket, "getaddrinfo", rebinding)
    with pytest.raises(PermanentError, match=r"^pictures\.example\.com resolves to a private or local address "
                                             r"\(10\.0\.0\.5\)"):
        fetch_once(f"http://pictures.example.com:{port}/a.jpg", timeout=2)
    assert looked_up == ["pictures.example.com"]


def test_allowed_private_hosts_are_connected_to(listener):
    port = listener.getsockname()[1]
    with pytest.raises(TransientError):  # the listener never answers: the attempt's deadline ends it
        fetch_once(f"http://127.0.0.1:{port}/a.jpg", timeout=0.3, allow_private=True)
    assert reached(listener)


def test_a_hanging_name_look_up_ends_with_the_attempts_deadline(monkeypatch):
    release = threading.Event()

    def hanging(*args, **kwargs):
        release.wait(10)
        raise socket.gaierror("released")

    monkeypatch.setattr(connect.socket, "getaddrinfo", hanging)
    try:
        with pytest.raises(TransientError, match=r"name look-up of slow\.example timed out after 0\.3s"):
            fetch_once("http://slow.example/a.jpg", timeout=0.3)
    finally:
        release.set()  # the look-up's thread goes back to the pool


def test_the_users_own_proxy_is_not_checked(monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:3128")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    assert connect.is_configured_proxy("127.0.0.1", 3128)
    assert not connect.is_configured_proxy("127.0.0.1", 8080)
    assert not connect.is_configured_proxy("localhost", 80)  # named in no_proxy, which lists hosts, not a proxy


def test_a_download_records_a_private_url_as_refused_and_fetches_it_once_allowed(tmp_path, listener):
    port = listener.getsockname()[1]
    box = FaceBox(0.1, 0.9, 0.1, 0.9)
    urls = [f"http://127.0.0.1:{port}/{name}.jpg" for name in "abc"]
    csv_path = tmp_path / "train.csv"
    write_fec_csv(csv_path, [Triplet(tuple(FaceRef(url, box) for url in urls), TripletType.ONE_CLASS,
                                     (("r1", 1), ("r2", 1), ("r3", 2)))])
    options = dl.DownloadOptions(out=tmp_path / "store", workers=2, timeout=0.3, retry=dl.RetryPolicy(0))
    dl.download([csv_path], options)
    records = dl.load_manifest(Path(options.out) / dl.DOWNLOAD_RECORDS_NAME)
    assert {url: record.status for url, record in records.items()} == {url: REFUSED for url in urls}
    assert all("--allow-private-hosts" in record.error for record in records.values())
    assert not reached(listener)
