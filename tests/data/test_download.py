"""`fec-data download` against a real HTTP server on 127.0.0.1 that injects faults.

The server (ThreadingHTTPServer on port 0, in a thread) serves synthetic JPEGs and, per path, a script
of responses per attempt (the last one repeats): 404, 410, 403, 500-then-200, 429 with Retry-After,
a hang past the timeout, a truncated body, an HTML page, redirects, and hostile ones: a byte every
0.2 s (status line, headers or body), redirects to other schemes. Backoff delays are tiny so the file
runs in seconds.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
from collections import Counter
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fec.cli.data import main as fec_data
from fec.data import download as dl
from fec.data.download.aligners import load_aligner
from fec.data.download.fetch import fetch_once, parse_retry_after
from fec.data.download.outcomes import PermanentError
from fec.data.download.plan import UrlJob
from fec.data.download.progress import Progress
from fec.data.download.raw_pictures import find_raw, url_hash
from fec.data.download.store import store_lock
from fec.data.face_store import FaceStore
from fec.data.fec_csv import read_triplets, write_fec_csv
from fec.data.triplets import FaceBox, FaceRef, Triplet, TripletType
from fec.errors import DataError

BOX = FaceBox(0.1, 0.9, 0.1, 0.9)
TINY_BOX = FaceBox(0.50, 0.505, 0.50, 0.505)  # non-empty as numbers, empty after rounding on 64x48
FACE_SIZE = 32
ONE, TWO, THREE = TripletType.ONE_CLASS, TripletType.TWO_CLASS, TripletType.THREE_CLASS
REPO = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------------------------------
# The fault-injecting server


def jpeg_bytes(seed: int, size: tuple[int, int] = (64, 48), **save_args) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).resize(size, Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, **save_args)
    return buffer.getvalue()


def ok(body: bytes, content_type: str = "image/jpeg", delay: float = 0.0):
    return ("ok", body, content_type, delay)


def status(code: int, **headers):
    return ("status", code, headers)


def redirect(location: str, delay: float = 0.0):
    return ("redirect", location, delay)


def hang(seconds: float = 3.0):
    return ("hang", seconds)


def truncated(body: bytes):
    return ("truncated", body)


DRIP_EVERY = 0.2
DRIP_BYTES = 150  # 30 s at most: a drip ends by itself even if nobody stops the server


def drip(stage: str):
    """One byte every DRIP_EVERY seconds from `stage` on: 'status' (the first byte of the status line),
    'headers' (after a whole status line) or 'body' (after whole headers announcing a large body)."""
    return ("drip", stage)


class FaultServer:
    """Scripted responses per path; counts hits, their times and the peak number of concurrent requests."""

    def __init__(self):
        self.routes: dict[str, list[tuple]] = {}
        self.hits: Counter = Counter()
        self.times: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        self.active = self.peak = 0
        self.stopping = threading.Event()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def route(self, path: str, *actions) -> str:
        self.routes[path] = list(actions)
        return self.base + path

    def next_action(self, path: str):
        with self.lock:
            index = self.hits[path]
            self.hits[path] += 1
            self.times.setdefault(path, []).append(time.monotonic())
        actions = self.routes.get(path) or [status(404)]
        return actions[min(index, len(actions) - 1)]

    def total_hits(self) -> int:
        return sum(self.hits.values())

    def start(self) -> FaultServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):  # clients that gave up (timeouts) are expected
        pass


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        owner = self.server.owner
        with owner.lock:
            owner.active += 1
            owner.peak = max(owner.peak, owner.active)
        try:
            self.respond(owner, owner.next_action(self.path))
        finally:
            with owner.lock:
                owner.active -= 1

    def respond(self, owner: FaultServer, action: tuple) -> None:
        kind = action[0]
        if kind == "ok":
            _, body, content_type, delay = action
            owner.stopping.wait(delay)
            self.send_body(200, body, content_type)
        elif kind == "status":
            _, code, headers = action
            self.send_body(code, f"<html>{code}</html>".encode(), "text/html", headers)
        elif kind == "redirect":
            owner.stopping.wait(action[2])
            self.send_body(302, b"", "text/html", {"Location": action[1]})
        elif kind == "drip":
            self.drip(owner, action[1])
        elif kind == "hang":
            owner.stopping.wait(action[1])
            self.send_body(200, b"too late", "image/jpeg")
        elif kind == "truncated":
            body = action[1]
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True

    def drip(self, owner: FaultServer, stage: str) -> None:
        """Bounded (DRIP_BYTES, or until the server stops); a client that gave up ends it with a write error."""
        self.close_connection = True
        status_line = b"HTTP/1.1 200 OK\r\n"
        if stage == "status":
            data = status_line + b"X-Drip: " + b"a" * DRIP_BYTES
        elif stage == "headers":
            self.wfile.write(status_line)
            data = b"Content-Type: image/jpeg\r\nX-Drip: " + b"a" * DRIP_BYTES
        else:
            self.wfile.write(status_line + b"Content-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n")
            data = jpeg_bytes(0)
        for byte in data[:DRIP_BYTES]:
            if owner.stopping.wait(DRIP_EVERY):
                return
            self.wfile.write(bytes([byte]))

    def send_body(self, code: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name.replace("_", "-"), str(value))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fault_server = FaultServer().start()
    yield fault_server
    fault_server.stop()


# ----------------------------------------------------------------------------------------------------
# Helpers


def triplet(kind: TripletType, *faces) -> Triplet:
    refs = tuple(face if isinstance(face, FaceRef) else FaceRef(face, BOX) for face in faces)
    return Triplet(refs, kind, (("r1", 1), ("r2", 1), ("r3", 2)))


def write_csv(path: Path, triplets: list[Triplet]) -> Path:
    write_fec_csv(path, triplets)
    return path


def options(out: Path, **overrides) -> dl.DownloadOptions:
    retry = dl.RetryPolicy(overrides.pop("retries", 2), base_delay=0.01, max_delay=0.05)
    # the test server listens on 127.0.0.1, a private address that downloads refuse unless allowed
    settings = dict(out=out, workers=4, timeout=0.5, retry=retry, face_size=FACE_SIZE, allow_private_hosts=True)
    settings.update(overrides)
    return dl.DownloadOptions(**settings)


def store_files(root: Path, manifest: bool = True) -> dict[str, bytes]:
    """Every file of the store, by relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and (manifest or p.name != dl.DOWNLOAD_RECORDS_NAME)
    }


def temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


# ----------------------------------------------------------------------------------------------------
# Faults: exact counts, no partial files, second run downloads nothing present


def fault_dataset(server: FaultServer, folder: Path) -> dict[str, str]:
    urls = {name: server.route(f"/img/{name}.jpg", ok(jpeg_bytes(seed))) for seed, name in enumerate(["ok1", "ok2", "ok3"])}
    server.route("/static/target.jpg", ok(jpeg_bytes(10)))
    server.route("/pw/images/en-us/photo_unavailable.png", ok(jpeg_bytes(11), "image/png"))
    urls["redirect"] = server.route("/img/moved.jpg", redirect(server.base + "/static/target.jpg"))
    urls["flaky"] = server.route("/img/flaky.jpg", status(500), ok(jpeg_bytes(12)))
    urls["limited"] = server.route("/img/limited.jpg", status(429, Retry_After=1), ok(jpeg_bytes(13)))
    urls["missing"] = server.route("/img/missing.jpg", status(404))
    urls["gone"] = server.route("/img/gone.jpg", status(410))
    urls["deleted"] = server.route("/img/deleted.jpg", redirect(server.base + "/pw/images/en-us/photo_unavailable.png"))
    urls["forbidden"] = server.route("/img/private.jpg", status(403))
    urls["html"] = server.route("/img/page.jpg", ok(b"<!doctype html><html><body>Not here</body></html>", "text/html"))
    urls["hang"] = server.route("/img/hang.jpg", hang())
    urls["truncated"] = server.route("/img/truncated.jpg", truncated(jpeg_bytes(14)))
    u = urls
    train = [
        triplet(ONE, u["ok1"], u["ok2"], u["ok3"]),
        triplet(TWO, u["ok1"], u["redirect"], u["flaky"]),
        triplet(THREE, u["limited"], u["ok2"], u["ok1"]),
        triplet(ONE, u["ok1"], u["missing"], u["ok2"]),
        triplet(TWO, u["gone"], u["html"], u["ok3"]),
        triplet(ONE, FaceRef(u["ok3"], TINY_BOX), u["ok1"], u["ok2"]),
    ]
    test = [
        triplet(ONE, u["ok2"], u["ok3"], u["flaky"]),
        triplet(THREE, u["hang"], u["ok1"], u["ok2"]),
        triplet(TWO, u["ok1"], u["truncated"], u["deleted"]),
        triplet(TWO, u["forbidden"], u["ok1"], u["ok2"]),
        triplet(THREE, u["ok1"], u["ok2"], u["html"]),
    ]
    write_csv(folder / "train.csv", train)
    write_csv(folder / "test.csv", test)
    return urls


def test_fault_counts_match_the_injected_faults(server, tmp_path):
    urls = fault_dataset(server, tmp_path)
    csvs = [tmp_path / "train.csv", tmp_path / "test.csv"]
    store = tmp_path / "store"

    report = dl.download(csvs, options(store))

    assert report.summary.urls == {
        "total": 13, "ok": 6, "gone": 3, "http_error": 1, "not_image": 1, "failed": 2, "missing": 0, "refused": 0,
        "not_attempted": 0,
    }
    train, test = (c.to_dict() for c in report.summary.csvs)
    assert (train["triplets"], train["complete"], train["dropped"]) == (6, 3, 3)
    assert train["dropped_by_reason"] == {"bad_box": 1, "gone": 2}
    assert train["by_type"] == {
        "ONE_CLASS_TRIPLET": {"complete": 1, "dropped": 2},
        "TWO_CLASS_TRIPLET": {"complete": 1, "dropped": 1},
        "THREE_CLASS_TRIPLET": {"complete": 1, "dropped": 0},
    }
    assert (test["triplets"], test["complete"], test["dropped"]) == (5, 1, 4)
    assert test["dropped_by_reason"] == {"failed": 2, "http_error": 1, "not_image": 1}
    assert test["by_type"]["TWO_CLASS_TRIPLET"] == {"complete": 0, "dropped": 2}
    assert test["by_type"]["THREE_CLASS_TRIPLET"] == {"complete": 0, "dropped": 2}

    records = dl.load_manifest(store / dl.DOWNLOAD_RECORDS_NAME)
    assert len((store / dl.DOWNLOAD_RECORDS_NAME).read_text().splitlines()) == 13  # one line per URL
    expected = {
        "ok1": ("ok", 200), "redirect": ("ok", 200), "flaky": ("ok", 200), "limited": ("ok", 200),
        "missing": ("gone", 404), "gone": ("gone", 410), "deleted": ("gone", 200), "forbidden": ("http_error", 403),
        "html": ("not_image", 200), "hang": ("failed", None), "truncated": ("failed", 200),
    }
    for name, (want_status, want_code) in expected.items():
        record = records[urls[name]]
        assert (record.status, record.http) == (want_status, want_code), (name, record)
    assert "timed out" in records[urls["hang"]].error
    assert "truncated body" in records[urls["truncated"]].error
    assert "text/html" in records[urls["html"]].error
    assert "photo unavailable" in records[urls["deleted"]].error
    assert records[urls["ok3"]].bad_faces and len(records[urls["ok3"]].crops) == 1
    ok1 = records[urls["ok1"]]
    assert ok1.sha256 == hashlib.sha256(jpeg_bytes(0)).hexdigest() and ok1.size == len(jpeg_bytes(0))

    # each unique URL once; permanent failures never retried; transient ones retried up to --retries
    hits = {path.rsplit("/", 1)[1].split(".")[0]: n for path, n in server.hits.items()}
    assert hits == {
        "ok1": 1, "ok2": 1, "ok3": 1, "moved": 1, "target": 1, "flaky": 2, "limited": 2, "missing": 1, "gone": 1,
        "deleted": 1, "photo_unavailable": 1, "private": 1, "page": 1, "hang": 3, "truncated": 3,
    }
    limited_times = server.times["/img/limited.jpg"]
    assert limited_times[1] - limited_times[0] >= 0.95  # Retry-After: 1 honoured

    assert temporaries(store) == []
    for face_file in store.rglob("*.jpg"):
        with Image.open(face_file) as face:
            face.load()
            assert face.size == (FACE_SIZE, FACE_SIZE)
    kept = read_triplets(store / "train.kept.csv").triplets
    assert [t.faces for t in kept] == [t.faces for t in read_triplets(tmp_path / "train.csv").triplets[:3]]
    assert len(read_triplets(store / "test.kept.csv").triplets) == 1

    # second run: only the transient failures are asked again; nothing already present is downloaded
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in store.rglob("*.jpg")}
    summary_before = (store / dl.SUMMARY_NAME).read_bytes()
    hits_before = Counter(server.hits)
    again = dl.download(csvs, options(store))
    new_hits = {path: n for path, n in (server.hits - hits_before).items()}
    assert new_hits == {"/img/hang.jpg": 3, "/img/truncated.jpg": 3}
    assert again.run.skipped == 11 and again.run.processed == 2
    assert again.summary.to_dict() == report.summary.to_dict()
    assert (store / dl.SUMMARY_NAME).read_bytes() == summary_before
    assert len((store / dl.DOWNLOAD_RECORDS_NAME).read_text().splitlines()) == 13  # still one line per URL
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in store.rglob("*.jpg")} == before
    assert temporaries(store) == []


def test_faces_summary_counts(server, tmp_path):
    fault_dataset(server, tmp_path)
    report = dl.download([tmp_path / "train.csv", tmp_path / "test.csv"], options(tmp_path / "store", retries=0))
    # 13 URLs, ok3 carries two boxes (one empty after rounding): 14 faces. Without retries the 500 and
    # the 429 fail too: 4 ok URLs -> 4 stored faces, 1 bad box, 4 failed
    assert report.summary.faces == {
        "total": 14, "stored": 4, "bad_box": 1, "failed": 4, "gone": 3, "http_error": 1, "not_image": 1,
    }
    assert report.summary.urls["failed"] == 4 and server.hits["/img/limited.jpg"] == 1


def test_second_run_of_a_complete_store_makes_no_request(server, tmp_path):
    urls = [server.route(f"/a/{i}.jpg", ok(jpeg_bytes(i))) for i in range(6)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *urls[:3]), triplet(TWO, *urls[3:]), triplet(THREE, *urls[1:4])])
    store = tmp_path / "store"
    first = dl.download([csv_path], options(store))
    assert server.total_hits() == 6 and first.summary.csvs[0].complete == 3
    files = store_files(store)
    second = dl.download([csv_path], options(store))
    assert server.total_hits() == 6
    assert (second.run.skipped, second.run.processed, second.run.requests) == (6, 0, 0)
    assert store_files(store) == files


def test_workers_are_bounded_and_concurrent(server, tmp_path):
    urls = [server.route(f"/slow/{i}.jpg", ok(jpeg_bytes(i), delay=0.15)) for i in range(12)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *urls[i : i + 3]) for i in range(0, 12, 3)])
    dl.download([csv_path], options(tmp_path / "store", workers=3, timeout=5))
    assert server.peak == 3


# ----------------------------------------------------------------------------------------------------
# Pictures: same faces as FaceStore.add, EXIF orientation, validation


def test_stored_faces_equal_face_store_add_and_training_finds_them(server, tmp_path):
    pictures = {i: jpeg_bytes(i, (80, 60)) for i in range(3)}
    urls = [server.route(f"/p/{i}.jpg", ok(body)) for i, body in pictures.items()]
    boxes = [FaceBox(0.1, 0.6, 0.2, 0.9), FaceBox(0.3, 0.95, 0.0, 0.7), FaceBox(0.05, 0.5, 0.3, 0.8)]
    faces = [FaceRef(url, box) for url, box in zip(urls, boxes)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *faces)])
    store_dir = tmp_path / "store"
    dl.download([csv_path], options(store_dir, margin=0.2))

    reference = FaceStore(tmp_path / "reference", FACE_SIZE, 0.2)
    for i, face in enumerate(faces):
        picture = tmp_path / f"{i}.jpg"
        picture.write_bytes(pictures[i])
        assert reference.add(face, picture).read_bytes() == FaceStore(store_dir, FACE_SIZE, 0.2).path(face).read_bytes()

    kept = read_triplets(store_dir / "train.kept.csv").triplets
    resolved = FaceStore(store_dir, FACE_SIZE, 0.2).resolve_triplets(kept, base_dir=store_dir)
    assert resolved.dropped_count == 0 and len(resolved.triplets) == 1
    assert server.total_hits() == 3  # resolving found the faces without fetching anything


def test_exif_orientation_is_applied(server, tmp_path):
    pixels = np.zeros((32, 64, 3), dtype=np.uint8)
    pixels[:, :32] = (255, 0, 0)  # stored left half red, right half blue
    pixels[:, 32:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: the left half becomes the top half
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95, exif=exif)
    url = server.route("/exif.jpg", ok(buffer.getvalue()))
    top = FaceRef(url, FaceBox(0.0, 1.0, 0.0, 0.5))
    plain = [server.route(f"/e/{i}.jpg", ok(jpeg_bytes(i))) for i in range(2)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, top, *plain)])
    store_dir = tmp_path / "store"
    dl.download([csv_path], options(store_dir))
    face = np.asarray(Image.open(FaceStore(store_dir, FACE_SIZE).path(top)), dtype=float)
    red, _, blue = face.reshape(-1, 3).mean(axis=0)
    assert red > 200 and blue < 50


def test_implausible_and_corrupt_pictures_are_not_images(server, tmp_path):
    tiny = server.route("/tiny.jpg", ok(jpeg_bytes(1, (8, 8))))
    corrupt = server.route("/corrupt.jpg", ok(jpeg_bytes(2)[:400], "application/octet-stream"))
    good = server.route("/good.jpg", ok(jpeg_bytes(3)))
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, tiny, corrupt, good)])
    report = dl.download([csv_path], options(tmp_path / "store"))
    records = dl.load_manifest(tmp_path / "store" / dl.DOWNLOAD_RECORDS_NAME)
    assert records[tiny].status == records[corrupt].status == dl.NOT_IMAGE
    assert "8x8" in records[tiny].error
    assert report.summary.urls["not_image"] == 2 and server.hits["/corrupt.jpg"] == 1


# ----------------------------------------------------------------------------------------------------
# Retry policy


def test_backoff_doubles_with_jitter_and_honours_retry_after():
    import random

    policy = dl.RetryPolicy(retries=5, base_delay=1.0, max_delay=8.0, max_retry_after=30.0)
    rng = random.Random(0)
    for attempt, full in enumerate([1, 2, 4, 8, 8]):
        delays = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert full * 0.5 <= min(delays) and max(delays) <= full
        assert max(delays) - min(delays) > full * 0.3  # jittered
    assert policy.delay(0, 10.0, rng) == 10.0
    assert policy.delay(0, 1000.0, rng) == 30.0


def test_progress_counts_done_failed_remaining():
    jobs = [UrlJob(f"http://h/{i}", [], Path(".")) for i in range(5)]
    records = {"http://h/0": dl.UrlOutcome("http://h/0", dl.OK), "http://h/1": dl.UrlOutcome("http://h/1", dl.FAILED),
               "http://h/2": dl.UrlOutcome("http://h/2", dl.GONE)}
    progress = Progress(jobs, [jobs[1], jobs[3], jobs[4]], records, enabled=False)
    assert (progress.done, progress.failed, progress.remaining) == (1, 2, 2)
    progress.update(dl.UrlOutcome("http://h/1", dl.OK))
    progress.update(dl.UrlOutcome("http://h/3", dl.FAILED))
    assert (progress.done, progress.failed, progress.remaining) == (2, 2, 1)
    progress.update(dl.UrlOutcome("http://h/4", dl.OK))
    assert (progress.done, progress.failed, progress.remaining) == (3, 2, 0)
    progress.close()


def test_parse_retry_after():
    from datetime import datetime

    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Mon, 01 Jan 2024 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("\u00b2") is None  # a digit to str.isdigit, not to float(): a hostile server's header


# ----------------------------------------------------------------------------------------------------
# Manifest and resumption


def test_torn_last_manifest_line_is_ignored_and_repaired(server, tmp_path):
    urls = [server.route(f"/t/{i}.jpg", ok(jpeg_bytes(i))) for i in range(3)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *urls)])
    store = tmp_path / "store"
    dl.download([csv_path], options(store))
    manifest = store / dl.DOWNLOAD_RECORDS_NAME
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text(lines[0] + lines[1] + lines[2][:25])  # killed while writing the third record

    records = dl.load_manifest(manifest)
    assert set(records) == set(urls[:2])
    assert manifest.read_text() == lines[0] + lines[1]

    manifest.write_text(lines[0] + lines[1] + lines[2][:25])
    report = dl.download([csv_path], options(store))
    assert report.run.processed == 1 and server.total_hits() == 4  # only the URL whose record was torn
    assert all(json.loads(line) for line in manifest.read_text().splitlines())
    assert set(dl.load_manifest(manifest)) == set(urls)


def test_stale_temporaries_are_removed(server, tmp_path):
    urls = [server.route(f"/s/{i}.jpg", ok(jpeg_bytes(i))) for i in range(3)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *urls)])
    store = tmp_path / "store"
    (store / "ab").mkdir(parents=True)
    (store / "ab" / ".abcdef.jpg.x1y2.tmp").write_bytes(b"half a face")
    dl.download([csv_path], options(store))
    assert temporaries(store) == []


def test_new_boxes_reuse_kept_raw_pictures_without_requests(server, tmp_path):
    urls = [server.route(f"/r/{i}.jpg", ok(jpeg_bytes(i))) for i in range(3)]
    first = write_csv(tmp_path / "first.csv", [triplet(ONE, *urls)])
    store = tmp_path / "store"
    dl.download([first], options(store, keep_raw=True))
    records = dl.load_manifest(store / dl.DOWNLOAD_RECORDS_NAME)
    for url in urls:
        raw = find_raw(store, url)
        assert raw is not None and raw.suffix == ".jpg"
        assert hashlib.sha256(raw.read_bytes()).hexdigest() == records[url].sha256

    other = FaceRef(urls[0], FaceBox(0.2, 0.7, 0.2, 0.7))
    second = write_csv(tmp_path / "second.csv", [triplet(TWO, other, urls[1], urls[2])])
    report = dl.download([first, second], options(store, keep_raw=True))
    assert server.total_hits() == 3 and report.run.processed == 1
    assert FaceStore(store, FACE_SIZE).path(other).exists()
    assert dl.load_manifest(store / dl.DOWNLOAD_RECORDS_NAME)[urls[0]].source == "raw"


def test_one_download_per_store_at_a_time(tmp_path):
    urls = ["http://127.0.0.1:1/a.jpg", "http://127.0.0.1:1/b.jpg", "http://127.0.0.1:1/c.jpg"]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *urls)])
    store = tmp_path / "store"
    store.mkdir()
    with store_lock(store):
        with pytest.raises(DataError, match="another fec-data download"):
            dl.download([csv_path], options(store))


def test_raw_pictures_are_discarded_by_default(server, tmp_path):
    urls = [server.route(f"/d/{i}.jpg", ok(jpeg_bytes(i))) for i in range(3)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *urls)])
    dl.download([csv_path], options(tmp_path / "store"))
    assert not (tmp_path / "store" / dl.RAW_DIR_NAME).exists()


# ----------------------------------------------------------------------------------------------------
# --from-dir


def test_from_dir_builds_the_same_store_without_network(server, tmp_path):
    pictures = {i: jpeg_bytes(i) for i in range(6)}
    urls = [server.route(f"/f/photo_{i}.jpg", ok(body)) for i, body in pictures.items()]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *urls[:3]), triplet(TWO, *urls[3:])])
    dl.download([csv_path], options(tmp_path / "online"))
    hits = server.total_hits()

    raw = tmp_path / "raw"
    (raw / "nested").mkdir(parents=True)
    for i in (0, 1):  # named by URL hash
        (raw / f"{url_hash(urls[i])}.jpg").write_bytes(pictures[i])
    (raw / url_hash(urls[2])[:2]).mkdir()
    (raw / url_hash(urls[2])[:2] / f"{url_hash(urls[2])}.jpeg").write_bytes(pictures[2])
    (raw / "nested" / "mine.jpg").write_bytes(pictures[3])  # listed in the mapping file
    (raw / "photo_4.jpg").write_bytes(pictures[4])  # named like the URL
    mapping = tmp_path / "mapping.csv"
    mapping.write_text(f"url,file\n{urls[3]},nested/mine.jpg\n")

    report = dl.download([csv_path], options(tmp_path / "offline", from_dir=raw, mapping=mapping))
    assert server.total_hits() == hits  # no network
    assert report.summary.urls["ok"] == 5 and report.summary.urls["missing"] == 1
    online, offline = store_files(tmp_path / "online", manifest=False), store_files(tmp_path / "offline", manifest=False)
    faces = {name: data for name, data in offline.items() if name.endswith(".jpg")}
    assert len(faces) == 5 and all(online[name] == data for name, data in faces.items())

    (raw / f"{url_hash(urls[5])}.jpg").write_bytes(pictures[5])  # the user finds the last one
    report = dl.download([csv_path], options(tmp_path / "offline", from_dir=raw, mapping=mapping))
    assert report.run.processed == 1 and report.summary.csvs[0].complete == 2
    assert store_files(tmp_path / "offline", manifest=False) == online


# ----------------------------------------------------------------------------------------------------
# Alignment plug-ins


def test_alignment_plugin_is_used_and_pinned(server, tmp_path, monkeypatch):
    plugin = tmp_path / "plugins" / "grey_aligner.py"
    plugin.parent.mkdir()
    plugin.write_text(
        "from PIL import Image\n"
        "calls = []\n"
        "def make():\n"
        "    def align(picture, box, margin):\n"
        "        calls.append(box)\n"
        "        return Image.new('RGB', (10, 10), (128, 128, 128))\n"
        "    return align\n"
    )
    monkeypatch.syspath_prepend(str(plugin.parent))
    urls = [server.route(f"/al/{i}.jpg", ok(jpeg_bytes(i))) for i in range(3)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *urls)])
    store = tmp_path / "store"
    dl.download([csv_path], options(store, align="grey_aligner:make"))
    assert len(sys.modules["grey_aligner"].calls) == 3
    face = np.asarray(Image.open(FaceStore(store, FACE_SIZE).path(FaceRef(urls[0], BOX))), dtype=float)
    assert abs(face.mean() - 128) < 3
    assert json.loads((store / dl.STORE_INFO_NAME).read_text())["align"] == "grey_aligner:make"
    with pytest.raises(DataError, match="align"):
        dl.download([csv_path], options(store))


def test_mtcnn_adapter_levels_the_eyes(monkeypatch):
    picture = Image.new("RGB", (100, 100), "white")
    for x, y in ((30, 30), (70, 70)):  # eyes on a 45 degree line
        picture.paste((0, 0, 0), (x - 3, y - 3, x + 4, y + 4))

    class FakeMTCNN:
        def __init__(self, **kwargs):
            pass

        def detect(self, image, landmarks=False):
            landmark_points = np.array([[[30, 30], [70, 70], [50, 55], [40, 75], [60, 75]]], float)
            return np.array([[10.0, 10.0, 90.0, 90.0]]), np.array([0.99]), landmark_points

    fake = types.ModuleType("facenet_pytorch")
    fake.MTCNN = FakeMTCNN
    fake.__spec__ = importlib.machinery.ModuleSpec("facenet_pytorch", None)
    monkeypatch.setitem(sys.modules, "facenet_pytorch", fake)

    aligned = np.asarray(load_aligner("mtcnn")(picture, FaceBox(0.0, 1.0, 0.0, 1.0), 0.0).convert("L"))
    rows, cols = np.nonzero(aligned < 100)
    left, right = rows[cols < 50].mean(), rows[cols >= 50].mean()
    assert abs(left - right) < 2 and abs(left - 50) < 3


# ----------------------------------------------------------------------------------------------------
# The command: one-line user errors, exit code 2, no traceback


def invoke(*args: str):
    return CliRunner().invoke(fec_data, ["download", "--allow-private-hosts", *args])  # the test server is on 127.0.0.1


def assert_user_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, result.output
    for fragment in fragments:
        assert fragment in error_lines[0]


def test_cli_missing_csv(tmp_path):
    assert_user_error(invoke(str(tmp_path / "nope.csv"), "--out", str(tmp_path / "store")), "nope.csv", "no such file")
    assert not (tmp_path / "store").exists()


def test_cli_malformed_row_then_skip_bad_rows(server, tmp_path):
    urls = [server.route(f"/m/{i}.jpg", ok(jpeg_bytes(i))) for i in range(3)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *urls)])
    with open(csv_path, "a") as handle:
        handle.write('"http://127.0.0.1:1/x.jpg",0.1,0.9,0.1\n')
    store = tmp_path / "store"
    assert_user_error(invoke(str(csv_path), "--out", str(store)), f"{csv_path}:2", "--skip-bad-rows")
    assert server.total_hits() == 0

    result = invoke(str(csv_path), "--out", str(store), "--skip-bad-rows", "--timeout", "2", "--image-size", "32")
    assert result.exit_code == 0, result.output
    assert "malformed rows skipped: 1" in result.output
    assert json.loads((store / dl.SUMMARY_NAME).read_text())["csvs"][0]["bad_rows"] == 1


def test_cli_from_dir_missing(tmp_path):
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, "http://127.0.0.1:1/a.jpg", "http://127.0.0.1:1/b.jpg", "http://127.0.0.1:1/c.jpg")])
    result = invoke(str(csv_path), "--out", str(tmp_path / "store"), "--from-dir", str(tmp_path / "raw"))
    assert_user_error(result, "raw", "not found")


def test_cli_alignment_not_installed_says_what_to_install_before_downloading(server, tmp_path, monkeypatch):
    urls = [server.route(f"/n/{i}.jpg", ok(jpeg_bytes(i))) for i in range(3)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *urls)])
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)  # as if not installed
    result = invoke(str(csv_path), "--out", str(tmp_path / "store"), "--align", "mtcnn")
    assert_user_error(result, "--align mtcnn", "pip install --no-deps facenet-pytorch requests")
    result = invoke(str(csv_path), "--out", str(tmp_path / "store"), "--align", "no_such_aligner_pkg.sub:make")
    assert_user_error(result, "pip install no_such_aligner_pkg")
    assert_user_error(invoke(str(csv_path), "--out", str(tmp_path / "store"), "--align", "wobble"), "unknown aligner")
    assert server.total_hits() == 0 and not (tmp_path / "store").exists()


def test_cli_refuses_a_rerun_with_other_store_settings(server, tmp_path):
    urls = [server.route(f"/x/{i}.jpg", ok(jpeg_bytes(i))) for i in range(3)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *urls)])
    store = tmp_path / "store"
    result = invoke(str(csv_path), "--out", str(store), "--image-size", "32", "--timeout", "2")
    assert result.exit_code == 0, result.output
    assert "ONE_CLASS_TRIPLET" in result.output and "train.kept.csv" in result.output
    assert_user_error(invoke(str(csv_path), "--out", str(store), "--image-size", "48"), "--image-size 32", "--image-size 48")
    assert_user_error(invoke(str(csv_path), "--out", str(store), "--image-size", "32", "--margin", "0.1"), "margin")


def test_cli_clashing_csv_names(tmp_path):
    urls = ["http://127.0.0.1:1/a.jpg", "http://127.0.0.1:1/b.jpg", "http://127.0.0.1:1/c.jpg"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_csv(tmp_path / "a" / "train.csv", [triplet(ONE, *urls)])
    second = write_csv(tmp_path / "b" / "train.csv", [triplet(ONE, *urls)])
    assert_user_error(invoke(str(first), str(second), "--out", str(tmp_path / "store")), "train.kept.csv")


# ----------------------------------------------------------------------------------------------------
# Hostile servers and malformed input: every attempt ends on time, only http(s), no crash, no leak


@pytest.mark.parametrize("stage", ["status", "headers", "body"])
def test_a_dripping_server_cannot_stretch_an_attempt_past_the_timeout(server, tmp_path, stage):
    # a byte every 0.2 s never trips a per-read timeout of 1 s; before, one such attempt took minutes
    dripping = server.route(f"/drip/{stage}.jpg", drip(stage))
    good = [server.route(f"/drip/ok{i}.jpg", ok(jpeg_bytes(i))) for i in range(2)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, dripping, *good)])
    store = tmp_path / "store"
    started = time.monotonic()
    result = invoke(str(csv_path), "--out", str(store), "--timeout", "1", "--retries", "1", "--backoff", "0.01",
                    "--image-size", "32", "--quiet")
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    # the bar of issue 13: --timeout x (retries + 1) plus one second, for the whole command (measured: 2.02 s)
    assert elapsed < 1 * (1 + 1) + 1, f"two attempts of at most 1 s each took {elapsed:.1f} s"
    records = dl.load_manifest(store / dl.DOWNLOAD_RECORDS_NAME)
    record = records[dripping]
    assert (record.status, record.attempts) == (dl.FAILED, 2) and "timed out" in record.error, record
    assert server.hits[f"/drip/{stage}.jpg"] == 2
    assert all(records[url].status == dl.OK for url in good)


def test_one_deadline_covers_the_whole_redirect_chain(server, tmp_path):
    # five hops of 0.4 s: each within a 1 s timeout, together not
    chain = [server.route(f"/chain/{i}.jpg", redirect(f"{server.base}/chain/{i + 1}.jpg", delay=0.4)) for i in range(5)]
    server.route("/chain/5.jpg", ok(jpeg_bytes(5)))
    good = [server.route(f"/chain/ok{i}.jpg", ok(jpeg_bytes(i))) for i in range(2)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, chain[0], *good)])
    started = time.monotonic()
    dl.download([csv_path], options(tmp_path / "store", timeout=1.0, retries=0))
    assert time.monotonic() - started < 4
    record = dl.load_manifest(tmp_path / "store" / dl.DOWNLOAD_RECORDS_NAME)[chain[0]]
    assert record.status == dl.FAILED and "timed out" in record.error, record
    assert "/chain/5.jpg" not in server.hits


def test_redirects_are_followed_to_http_and_https_only(server, tmp_path):
    ftp = server.route("/away/ftp.jpg", redirect("ftp://127.0.0.1/x"))
    file = server.route("/away/file.jpg", redirect("file:///etc/passwd"))
    malformed = server.route("/away/malformed.jpg", redirect("http://[::1"))
    good = [server.route(f"/away/ok{i}.jpg", ok(jpeg_bytes(i))) for i in range(3)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, ftp, file, malformed), triplet(TWO, *good)])
    store = tmp_path / "store"
    report = dl.download([csv_path], options(store))
    records = dl.load_manifest(store / dl.DOWNLOAD_RECORDS_NAME)
    for url, target in ((ftp, "ftp://127.0.0.1/x"), (file, "file:///etc/passwd")):
        record = records[url]
        assert (record.status, record.http) == (dl.HTTP_ERROR, 302), record
        assert "refused (only http and https are followed)" in record.error and target in record.error
    assert records[malformed].status == dl.HTTP_ERROR and "malformed URL" in records[malformed].error
    assert report.summary.urls["http_error"] == 3 and report.summary.urls["ok"] == 3
    assert "root:" not in (store / dl.DOWNLOAD_RECORDS_NAME).read_text()
    hits = Counter(server.hits)
    assert all(hits[f"/away/{name}.jpg"] == 1 for name in ("ftp", "file", "malformed"))  # permanent: no retry
    dl.download([csv_path], options(store))
    assert server.hits == hits  # nor on a rerun


def test_cli_malformed_urls_are_per_url_failures_not_a_crash(server, tmp_path):
    good = [server.route(f"/g/{i}.jpg", ok(jpeg_bytes(i))) for i in range(3)]
    bad = ["http://[::1", "http://127.0.0.1:99999/x.jpg", "http:///no-host.jpg", "file://[oops/x.jpg"]
    csv_path = write_csv(tmp_path / "train.csv", [
        triplet(ONE, *good), triplet(TWO, bad[0], good[0], good[1]), triplet(THREE, *bad[1:]),
    ])
    store = tmp_path / "store"
    for extra in ([], ["--skip-bad-rows"]):  # the second run also checks a rerun skips them
        result = invoke(str(csv_path), "--out", str(store), "--timeout", "2", "--image-size", "32", *extra)
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output and "http_error 4" in result.output
    lines = [json.loads(line) for line in (store / dl.DOWNLOAD_RECORDS_NAME).read_text().splitlines()]
    records = {line["url"]: line for line in lines}
    reasons = {"http://[::1": "Invalid IPv6 URL", bad[1]: "Port out of range", bad[2]: "no host", bad[3]: "Invalid IPv6 URL"}
    for url, reason in reasons.items():
        record = records[url]
        assert record["status"] == "http_error" and record["error"].startswith(f"malformed URL ({reason}"), record
        assert record["attempts"] == 0
    assert all(records[url]["status"] == "ok" for url in good)
    assert server.total_hits() == 3  # each good URL once, the malformed ones never reached the network
    assert [t.faces for t in read_triplets(store / "train.kept.csv").triplets] == [tuple(FaceRef(u, BOX) for u in good)]
    summary = json.loads((store / dl.SUMMARY_NAME).read_text())
    assert summary["csvs"][0]["dropped_by_reason"] == {"http_error": 2}


def test_fetch_once_refuses_what_is_not_a_well_formed_http_url():
    refused = {"http://[::1": "malformed URL", "http://127.0.0.1:1/a b.jpg": "malformed URL", "http://h:x/": "malformed URL",
               "ftp://127.0.0.1/x.jpg": "not an http(s) URL (scheme: ftp)", "/etc/passwd": "not an http(s) URL (scheme: none)"}
    for url, reason in refused.items():
        with pytest.raises(PermanentError) as caught:
            fetch_once(url, timeout=1, allow_private=True)
        assert caught.value.status == dl.HTTP_ERROR and str(caught.value).startswith(reason), caught.value


def test_a_redirect_to_a_path_with_a_space_is_still_followed(server, tmp_path):
    server.route("/with%20space/a.jpg", ok(jpeg_bytes(7)))  # urllib percent-encodes the Location, as before
    moved = server.route("/spaced/moved.jpg", redirect(f"{server.base}/with space/a.jpg"))
    payload = fetch_once(moved, timeout=2, allow_private=True)
    assert payload.code == 200 and payload.data == jpeg_bytes(7)


def test_a_local_file_that_is_not_an_image_leaves_no_trace_of_its_content(server, tmp_path):
    secret = b"zq7-Hunter2-Xk9!pw-0451-LOCALONLY\n"
    private = tmp_path / "private"
    private.mkdir()
    (private / "notes.txt").write_bytes(secret)
    names = [str(private / "notes.txt"), (private / "notes.txt").as_uri(), "private/notes.txt"]
    good = [server.route(f"/l/{i}.jpg", ok(jpeg_bytes(i))) for i in range(2)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *names), triplet(TWO, names[0], *good)])
    store = tmp_path / "store"
    dl.download([csv_path], options(store))
    written = (store / dl.DOWNLOAD_RECORDS_NAME).read_bytes() + (store / dl.SUMMARY_NAME).read_bytes()
    leaks = [secret[i : i + 5] for i in range(len(secret) - 4) if secret[i : i + 5] in written]
    assert leaks == []
    assert hashlib.sha256(secret).hexdigest().encode() not in written
    records = dl.load_manifest(store / dl.DOWNLOAD_RECORDS_NAME)
    for name in names:
        record = records[name]
        assert (record.status, record.sha256, record.source) == (dl.NOT_IMAGE, "", "local"), record
        assert record.error == f"not an image ({len(secret)} bytes)"


def test_an_unreadable_local_path_is_a_per_url_failure(server, tmp_path):
    too_long = "x" * 5000 + ".jpg"  # stat fails with ENAMETOOLONG, not "no such file"
    big = tmp_path / "big.jpg"
    big.write_bytes(jpeg_bytes(1) + b"\0" * 2000)
    good = server.route("/u/0.jpg", ok(jpeg_bytes(0)))
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, too_long, str(big), good)])
    dl.download([csv_path], options(tmp_path / "store", max_bytes=1500))
    records = dl.load_manifest(tmp_path / "store" / dl.DOWNLOAD_RECORDS_NAME)
    assert records[too_long].status == dl.MISSING and "cannot read" in records[too_long].error
    assert records[str(big)].status == dl.NOT_IMAGE and "too large" in records[str(big)].error
    assert records[good].status == dl.OK


def refused_outside(name: str, root: Path) -> str:
    """The refusal of a local picture outside `root`, as fec-train words it."""
    return (f"image path {name!r} is outside the data folder {root}; move the pictures under it, name their folder "
            "with --data-root, or pass --allow-outside-paths (fec-train: --set data_root=DIR / allow_outside_paths=true)")


def pictures_in_and_out(tmp_path) -> tuple[Path, Path]:
    """(a picture outside the data folder, the data folder holding inside.jpg)."""
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(jpeg_bytes(1))
    data = tmp_path / "data"
    data.mkdir()
    (data / "inside.jpg").write_bytes(jpeg_bytes(2))
    return outside, data


def test_local_pictures_outside_the_csv_folder_are_refused_and_never_read(tmp_path):
    outside, data = pictures_in_and_out(tmp_path)
    (data / "link.jpg").symlink_to(outside)
    passwd = "../" * 12 + "etc/passwd"
    names = ["../outside.jpg", str(outside), outside.as_uri(), "link.jpg", "../absent.jpg", passwd]
    csv_path = write_csv(data / "train.csv", [triplet(ONE, name, "inside.jpg", "inside.jpg") for name in names])
    store = tmp_path / "store"
    report = dl.download([csv_path], options(store))
    records = dl.load_manifest(store / dl.DOWNLOAD_RECORDS_NAME)
    for name in names:  # the same answer whether the file exists or not: no size, no hash, no crop
        record = records[name]
        assert (record.status, record.size, record.sha256, record.crops) == (dl.REFUSED, 0, "", []), record
        assert record.error == refused_outside(name, data)
    assert records["inside.jpg"].status == dl.OK and report.summary.urls[dl.REFUSED] == len(names)
    assert len(list(store.rglob("*.jpg"))) == 1  # the inside picture's one face

    report = dl.download([csv_path], options(store, data_root=tmp_path))  # a rerun with a wider data root
    records = dl.load_manifest(store / dl.DOWNLOAD_RECORDS_NAME)
    assert {name: records[name].status for name in names} == {
        **dict.fromkeys(names[:4], dl.OK), "../absent.jpg": dl.MISSING, passwd: dl.REFUSED}
    assert records[passwd].error == refused_outside(passwd, tmp_path)
    allowed = dl.download([csv_path], options(tmp_path / "anywhere", allow_outside_paths=True))
    assert allowed.summary.urls[dl.REFUSED] == 0 and allowed.summary.urls[dl.OK] == 5


def without_hanging(seconds: float, work, *args, **kwargs):
    """`work(*args, **kwargs)` on a daemon thread; fails instead of blocking the suite (a named pipe read)."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=work(*args, **kwargs)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds}s"
    return result["value"]


def test_local_paths_no_picture_can_have_are_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "folder.jpg").mkdir()
    (tmp_path / "good.jpg").write_bytes(jpeg_bytes(0))
    names = ["pipe.jpg", "folder.jpg", "te\0st.jpg"]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, name, "good.jpg", "good.jpg") for name in names])
    without_hanging(30, dl.download, [csv_path], options(tmp_path / "store"))
    records = dl.load_manifest(tmp_path / "store" / dl.DOWNLOAD_RECORDS_NAME)
    assert {name: (records[name].status, records[name].size) for name in names} == dict.fromkeys(names, (dl.REFUSED, 0))
    assert records["pipe.jpg"].error == f"{tmp_path / 'pipe.jpg'} is not a regular file (only picture files are read)"
    assert records["te\0st.jpg"].error == "image path 'te\\x00st.jpg' contains a NUL byte; fix or remove this CSV row"
    assert records["good.jpg"].status == dl.OK


def test_a_mapping_file_cannot_point_outside_the_from_dir_folder(tmp_path):
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(jpeg_bytes(1))
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "mine.jpg").write_bytes(jpeg_bytes(2))
    (raw / "link.jpg").symlink_to(outside)
    urls = [f"http://example.invalid/{i}.jpg" for i in range(3)]
    csv_path = write_csv(tmp_path / "train.csv", [triplet(ONE, *urls)])
    mapping = tmp_path / "mapping.csv"
    for name in ("../outside.jpg", str(outside), "link.jpg", "nested/../../outside.jpg", "mi\0ne.jpg"):
        mapping.write_text(f"url,file\n{urls[0]},mine.jpg\n{urls[1]},{name}\n")
        with pytest.raises(DataError) as caught:
            dl.download([csv_path], options(tmp_path / "store", from_dir=raw, mapping=mapping))
        assert str(caught.value) == (f"{mapping}:3: file {name!r} is not a path inside the --from-dir folder {raw}; "
                                     "map each URL to a picture under that folder")
    assert not (tmp_path / "store").exists()  # refused before anything was read or written
    mapping.write_text(f"url,file\n{urls[0]},mine.jpg\n")
    report = dl.download([csv_path], options(tmp_path / "store", from_dir=raw, mapping=mapping))
    assert (report.summary.urls[dl.OK], report.summary.urls[dl.MISSING]) == (1, 2)


# ----------------------------------------------------------------------------------------------------
# Kill midway (SIGTERM, SIGKILL), run again: same store as an uninterrupted run


KILL_IMAGES = 60


@pytest.fixture
def kill_dataset(server, tmp_path):
    urls = [server.route(f"/k/{i}.jpg", ok(jpeg_bytes(i, (96, 72)), delay=0.04)) for i in range(KILL_IMAGES)]
    urls.append(server.route("/k/missing.jpg", status(404)))
    triplets = [triplet(kind, urls[i], urls[(i + 7) % len(urls)], urls[(i + 19) % len(urls)]) for i, kind in
                zip(range(len(urls)), [ONE, TWO, THREE] * len(urls))]
    train = write_csv(tmp_path / "train.csv", triplets[:45])
    test = write_csv(tmp_path / "test.csv", triplets[45:])
    reference = tmp_path / "reference"
    args = ["--workers", "2", "--image-size", "32", "--margin", "0.1", "--timeout", "5", "--backoff", "0.01"]
    result = invoke(str(train), str(test), "--out", str(reference), "--quiet", *args)
    assert result.exit_code == 0, result.output
    return [str(train), str(test)], args, reference


def run_cli(csvs: list[str], store: Path, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "fec.cli.download", *csvs, "--out", str(store), "--quiet", "--allow-private-hosts", *args]
    return subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def manifest_lines(store: Path) -> int:
    try:
        return (store / dl.DOWNLOAD_RECORDS_NAME).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_midway_then_rerun_equals_an_uninterrupted_run(kill_dataset, tmp_path, signum):
    csvs, args, reference = kill_dataset
    store = tmp_path / "killed"
    process = run_cli(csvs, store, args)
    deadline = time.monotonic() + 30
    while manifest_lines(store) < 12 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert process.poll() is None, process.communicate()[0].decode()  # still running: killed midway
    process.send_signal(signum)
    output = process.communicate(timeout=30)[0].decode()
    # SIGTERM: the command stops its pool and exits 143; SIGKILL: no chance to do anything
    assert process.returncode == (128 + signal.SIGTERM if signum == signal.SIGTERM else -signal.SIGKILL), output
    assert "Traceback" not in output
    assert manifest_lines(store) < KILL_IMAGES + 1

    rerun = run_cli(csvs, store, args)
    output = rerun.communicate(timeout=60)[0].decode()
    assert rerun.returncode == 0, output
    # faces, kept CSVs, summary.json, store.json and the manifest: byte for byte
    assert store_files(store) == store_files(reference)
    assert temporaries(store) == []


# ----------------------------------------------------------------------------------------------------
# The synthetic dataset, served over HTTP, into a store that training uses directly


def test_synthetic_dataset_over_http_into_a_store_training_uses(server, tmp_path):
    if importlib.util.find_spec("fec.data.synth") is None:
        pytest.skip("fec.data.synth (the synthetic generator) is not written yet")
    from fec.data.face_store import local_source
    from fec.data.synth import write_synthetic_dataset

    dataset = tmp_path / "synth"
    write_synthetic_dataset(dataset, 60, 0, 48)
    online = tmp_path / "online"
    online.mkdir()
    for name in ("train", "test"):
        triplets = read_triplets(dataset / f"{name}.csv").triplets
        for t in triplets:
            for face in t.faces:
                path = local_source(face.url, dataset)
                server.routes.setdefault(f"/synth/{path.relative_to(dataset).as_posix()}", [ok(path.read_bytes())])
        served = [
            Triplet(tuple(FaceRef(f"{server.base}/synth/{local_source(f.url, dataset).relative_to(dataset).as_posix()}", f.box)
                          for f in t.faces), t.type, t.annotations)
            for t in triplets
        ]
        write_csv(online / f"{name}.csv", served)

    store = tmp_path / "store"
    result = invoke(str(online / "train.csv"), str(online / "test.csv"), "--out", str(store), "--image-size", "48", "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads((store / dl.SUMMARY_NAME).read_text())
    assert summary["urls"]["ok"] == summary["urls"]["total"] == len(server.routes)
    hits = server.total_hits()

    from fec.data.dataset import load_triplets  # what the trainer calls with config.store / face_size / face_margin

    for name in ("train", "test"):
        loaded = load_triplets(store / f"{name}.kept.csv", input_size=48, store=store, face_size=48, margin=0.0, cache=False)
        assert loaded.warnings() == [] and len(loaded.dataset) == len(read_triplets(dataset / f"{name}.csv").triplets)
        assert tuple(loaded.dataset[0]["images"].shape) == (3, 3, 48, 48)
        # the same faces as the local dataset gives when cropped straight from its pictures
        local = FaceStore(tmp_path / "local", 48, 0.0).resolve_triplets(read_triplets(dataset / f"{name}.csv").triplets, dataset)
        assert [[p.read_bytes() for p in paths] for paths in local.face_paths] == [
            [p.read_bytes() for p in paths] for paths in loaded.resolved.face_paths
        ]
    assert server.total_hits() == hits


def test_the_command_line_takes_the_data_root_and_the_outside_paths_flag(tmp_path):
    _, data = pictures_in_and_out(tmp_path)
    csv_path = write_csv(data / "train.csv", [triplet(ONE, "../outside.jpg", "inside.jpg", "inside.jpg")])
    for flags, status in (([], dl.REFUSED), (["--data-root", str(tmp_path)], dl.OK), (["--allow-outside-paths"], dl.OK)):
        store = tmp_path / f"store{len(flags)}{status}"
        result = invoke(str(csv_path), "--out", str(store), "--image-size", "32", "--quiet", *flags)
        assert result.exit_code == 0, result.output
        assert dl.load_manifest(store / dl.DOWNLOAD_RECORDS_NAME)["../outside.jpg"].status == status, flags
