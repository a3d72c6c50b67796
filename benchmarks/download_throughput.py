"""Images per second of `fec-data download` against a local server with simulated latency.

Flickr answers in tens to hundreds of milliseconds per picture, so one worker spends most of its time
waiting; this measures how far the bounded thread pool hides that wait. The server (127.0.0.1, port 0)
sleeps `--latency` seconds before each answer and serves synthetic JPEGs of about Flickr's medium size;
each worker count fills a fresh store.

    python benchmarks/download_throughput.py --images 200 --latency 0.05 --workers 1 4 16 32
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image

from fec.data.download import DownloadOptions, RetryPolicy, download
from fec.data.fec_csv import write_fec_csv
from fec.data.triplets import FaceBox, FaceRef, Triplet, TripletType


def synthetic_jpeg(seed: int, width: int, height: int) -> bytes:
    blocks = np.random.default_rng(seed).integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
    image = Image.fromarray(blocks).resize((width, height), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


class LatencyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, pictures: dict[str, bytes], latency: float):
        super().__init__(("127.0.0.1", 0), LatencyHandler)
        self.pictures, self.latency = pictures, latency

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class LatencyHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        time.sleep(self.server.latency)
        body = self.server.pictures.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def write_csv(path: Path, urls: list[str]) -> None:
    box = FaceBox(0.3, 0.7, 0.2, 0.8)
    kinds = list(TripletType)
    triplets = [
        Triplet(tuple(FaceRef(urls[(i + k) % len(urls)], box) for k in range(3)), kinds[i % 3], (("r1", 1), ("r2", 2)))
        for i in range(len(urls))
    ]
    write_fec_csv(path, triplets)


def measure(csv_path: Path, workers: int, face_size: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="fec-bench-store-") as store:
        options = DownloadOptions(out=Path(store), workers=workers, timeout=30, retry=RetryPolicy(2, 0.1), face_size=face_size,
                                  allow_private_hosts=True)  # its server is on 127.0.0.1
        started = time.perf_counter()
        report = download([csv_path], options)
        seconds = time.perf_counter() - started
    if report.summary.urls["ok"] != report.summary.urls["total"]:
        raise SystemExit(f"benchmark run lost pictures: {report.summary.urls}")
    return seconds, report.run.downloaded_bytes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200, help="unique pictures (one face each)")
    parser.add_argument("--latency", type=float, default=0.05, help="server delay per request, seconds")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--size", default="500x375", help="served picture size, WxH (Flickr medium is 500 px)")
    parser.add_argument("--face-size", type=int, default=224)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))

    pictures = {f"/img/{i}.jpg": synthetic_jpeg(i, width, height) for i in range(args.images)}
    server = LatencyServer(pictures, args.latency)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory(prefix="fec-bench-") as folder:
            csv_path = Path(folder) / "bench.csv"
            write_csv(csv_path, [server.base + path for path in pictures])
            mean_kb = sum(map(len, pictures.values())) / len(pictures) / 1024
            print(f"{args.images} pictures of {width}x{height} (~{mean_kb:.0f} KB), {args.latency * 1000:.0f} ms latency, "
                  f"faces {args.face_size} px, python {sys.version.split()[0]}")
            print(f"{'workers':>8} {'seconds':>8} {'images/s':>9} {'MB/s':>6} {'speed-up':>9}")
            baseline = None
            for workers in args.workers:
                seconds, downloaded = measure(csv_path, workers, args.face_size)
                rate = args.images / seconds
                baseline = baseline or rate
                print(f"{workers:>8} {seconds:>8.2f} {rate:>9.1f} {downloaded / seconds / 1e6:>6.1f} {rate / baseline:>8.1f}x")
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
