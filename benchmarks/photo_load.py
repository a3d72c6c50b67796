"""Photos in, expressions out: detection + embedding cost per photo here, and the served photo
model's photos/s by concurrency.

    python benchmarks/photo_load.py --checkpoint runs/demo/best.pt --export export/demo-deploy/exports/onnx-fp32 --threads 1 \
        --clients 1 8 --requests 40

Local: `fec-embed --detect --checkpoint`'s code (LocalPhotoEmbedder) on each sample photo (benchmarks/
sample_photos.py: astronaut, grace_hopper, a 4-face lfw composite, coffee), the median of --repeats runs,
split into decode + detect + align and embed. Served: a python-backend repository with the photo model
(fec-triton --embedding ort-python --photos) on the real tritonserver on 127.0.0.1; C clients each send
R photos (the four in turn, one per request); photos/s, faces/s, p50/p99 latency; the cosine between
the served and local embeddings of every face; and head-of-line blocking: Grace Hopper's portrait alone, and
sent while a costly photo (a 72-megapixel JPEG header, a 48-face crowd) is being worked on. The costly photos'
local cost is in the first table too. Figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from sample_photos import write_sample_photos

from fec.embedding.photos import LocalPhotoEmbedder
from fec.runtimes.triton_client import PHOTO_KIND, TritonClient, model_name
from fec.triton.exports import read_exports
from fec.triton.photos import embed_in_chunks, photo_faces
from fec.triton.repository import RepositoryOptions, write_repository
from fec.triton.server import TritonServer

PHOTO_MODEL = model_name("fecnet", PHOTO_KIND)


def local_costs(embedder: LocalPhotoEmbedder, photos: dict[str, bytes], repeats: int) -> list[dict]:
    """Per photo: faces found and the median ms of decode + detect + align, and of embedding the faces."""
    rows = []
    for name, payload in photos.items():
        detect_ms, embed_ms = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            photo = photo_faces(payload, embedder.detector, embedder.settings)
            detected = time.perf_counter()
            embed_in_chunks(embedder.embed, photo.batch, 64, 16)
            detect_ms.append((detected - started) * 1e3)
            embed_ms.append((time.perf_counter() - detected) * 1e3)
        rows.append({"photo": name, "faces": len(photo.faces), "detect_ms": statistics.median(detect_ms),
                     "embed_ms": statistics.median(embed_ms)})
    return rows


def served_load(url: str, photos: list[bytes], clients: int, requests: int) -> dict:
    """C clients x R one-photo requests; photos/s and faces/s over the wall time, latency percentiles."""
    latencies: list[float] = []
    faces = [0]
    lock, start_line = threading.Lock(), threading.Barrier(clients + 1)

    def client_loop(index: int) -> None:
        with TritonClient(url) as client:
            start_line.wait()
            for step in range(requests):
                started = time.perf_counter()
                found = client.detect_faces(photos[(index + step) % len(photos)], PHOTO_MODEL)
                with lock:
                    latencies.append((time.perf_counter() - started) * 1e3)
                    faces[0] += len(found.faces)

    threads = [threading.Thread(target=client_loop, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {"clients": clients, "photos": len(latencies), "photos_per_s": len(latencies) / seconds,
            "faces_per_s": faces[0] / seconds, "p50_ms": float(np.percentile(latencies, 50)),
            "p99_ms": float(np.percentile(latencies, 99))}


def agreement(url: str, embedder: LocalPhotoEmbedder, photos: dict[str, bytes]) -> tuple[float, int]:
    """The lowest cosine between a face's served and local embeddings, and how many faces were compared."""
    cosines = []
    with TritonClient(url) as client:
        for payload in photos.values():
            for served, here in zip(client.detect_faces(payload, PHOTO_MODEL).faces, embedder.faces(payload).faces):
                cosines.append(float(served.embedding @ here.embedding /
                                     (np.linalg.norm(served.embedding) * np.linalg.norm(here.embedding))))
    return min(cosines), len(cosines)


def hostile_photos() -> dict[str, bytes]:
    """The costly kinds: a JPEG whose header claims 9000 x 8000 (72 MP) and a photo of 48 faces (8 x 6)."""
    import io

    from PIL import Image
    from sample_photos import crowd_photo

    def jpeg(picture, quality: int) -> bytes:
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=quality)
        return buffer.getvalue()

    return {"72mp.jpg": jpeg(Image.new("RGB", (9000, 8000), (120, 130, 140)), 30),
            "crowd48.jpg": jpeg(crowd_photo(8, 6)[0], 90)}


def head_of_line(url: str, slow: bytes, quick: bytes) -> dict:
    """A quick photo's latency alone (median of 3), and sent while a slow one is being worked on."""
    def timed(payload: bytes) -> float:
        with TritonClient(url) as client:
            started = time.perf_counter()
            client.detect_faces(payload, PHOTO_MODEL)
            return (time.perf_counter() - started) * 1e3

    alone = statistics.median(timed(quick) for _ in range(3))
    slow_ms: list[float] = []
    thread = threading.Thread(target=lambda: slow_ms.append(timed(slow)))
    thread.start()
    time.sleep(0.2)
    together = timed(quick)
    thread.join()
    return {"quick_alone_ms": alone, "quick_together_ms": together, "slow_ms": slow_ms[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--export", type=Path, required=True, help="The checkpoint's ONNX export folder (fec-export).")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--requests", type=int, default=40, help="Photos per client.")
    parser.add_argument("--repeats", type=int, default=10, help="Local runs per photo (the median is reported).")
    parser.add_argument("--threads", type=int, help="torch threads for the local runs (default: torch's, one per core).")
    parser.add_argument("--local-only", action="store_true", help="Skip the served measurements.")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="fec-photo-load-"))
    write_sample_photos(work / "photos")
    photos = {path.name: path.read_bytes() for path in sorted((work / "photos").iterdir())}
    embedder = LocalPhotoEmbedder(args.checkpoint)
    print("| photo | faces | decode + detect + align ms | embed ms | total ms |\n|---|---:|---:|---:|---:|")
    hostile = hostile_photos()
    for row in local_costs(embedder, photos | hostile, args.repeats):
        print(f"| {row['photo']} | {row['faces']} | {row['detect_ms']:.1f} | {row['embed_ms']:.1f} | "
              f"{row['detect_ms'] + row['embed_ms']:.1f} |")
    if args.local_only:
        return
    options = RepositoryOptions(embedding="ort-python", ort_threads=1, photos=True)
    write_repository(read_exports([args.export]), options, work / "repo")
    with TritonServer(work / "repo", log_path=work / "tritonserver.log") as server:
        lowest, count = agreement(server.http_url, embedder, photos)
        print(f"\nserved vs local embeddings: min cosine {lowest:.6f} over {count} faces\n")
        print("| clients | photos | photos/s | faces/s | p50 ms | p99 ms |\n|---:|---:|---:|---:|---:|---:|")
        for clients in args.clients:
            row = served_load(server.http_url, list(photos.values()), clients, args.requests)
            print(f"| {clients} | {row['photos']} | {row['photos_per_s']:.1f} | {row['faces_per_s']:.1f} | "
                  f"{row['p50_ms']:.0f} | {row['p99_ms']:.0f} |")
        print("\n| slow photo | its ms | Grace Hopper alone ms | sent with it ms | ratio |\n|---|---:|---:|---:|---:|")
        for name, slow in hostile.items():
            row = head_of_line(server.http_url, slow, photos["grace_hopper.jpg"])
            print(f"| {name} | {row['slow_ms']:.0f} | {row['quick_alone_ms']:.0f} | {row['quick_together_ms']:.0f} | "
                  f"{row['quick_together_ms'] / row['quick_alone_ms']:.2f} |")


if __name__ == "__main__":
    main()
