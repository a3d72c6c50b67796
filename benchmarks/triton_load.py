"""Throughput and latency of the served ensemble (image bytes -> embedding) on loopback, by concurrency.

Writes a python-backend repository from an export (or a checkpoint, exported first), starts the real
tritonserver on 127.0.0.1, and for each concurrency C runs C clients x R requests of one picture
each, then prints a Markdown table: images/s, p50/p99 latency, failures, and the mean batch the
embedding model ran (from the server's statistics: dynamic batching at work).

    python benchmarks/triton_load.py --checkpoint runs/demo/best.pt --concurrency 1 2 4 8 --requests 200
    python benchmarks/triton_load.py --export export/mobilenet_v3_small-onnx-fp32 --protocol grpc

Pictures: the 100 real LFW faces bundled with scikit-image (25x25 PNGs), or --pictures DIR.
Figures depend on the machine and its load: compare rows of one run, not runs on different days.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from fec.runtimes.triton_client import TritonClient
from fec.triton.exports import read_exports
from fec.triton.load_generator import run_load
from fec.triton.repository import RepositoryOptions, write_repository
from fec.triton.server import TritonServer


def lfw_pictures() -> list[bytes]:
    from skimage import data

    payloads = []
    for face in data.lfw_subset()[:100]:
        buffer = io.BytesIO()
        Image.fromarray((face * 255).round().astype(np.uint8)).save(buffer, format="PNG")
        payloads.append(buffer.getvalue())
    return payloads


def folder_pictures(folder: Path) -> list[bytes]:
    from fec.embedding.pictures import list_images

    return [path.read_bytes() for path in list_images([folder])]


def export_folder(args, scratch: Path) -> Path:
    if args.export:
        return args.export
    from fec.export import ExportRequest, export_model

    return export_model(args.checkpoint, "onnx", ExportRequest(max_batch=args.max_batch), out=scratch / "export").folder


def mean_batch(before: dict[int, int], after: dict[int, int]) -> float:
    runs = {size: after.get(size, 0) - before.get(size, 0) for size in after}
    executions = sum(runs.values())
    return sum(size * count for size, count in runs.items()) / executions if executions else float("nan")


def measure(server: TritonServer, args, payloads: list[bytes]) -> list[dict]:
    url = server.http_url if args.protocol == "http" else server.grpc_url
    rows = []
    with TritonClient(server.http_url) as stats:
        run_load(url, args.protocol, "fecnet", payloads, 2, 20)  # warm the connections and caches
        for clients in args.concurrency:
            before = stats.batch_counts("fecnet_ort_python")
            result = run_load(url, args.protocol, "fecnet", payloads, clients, args.requests, deadline_s=args.deadline)
            row = result.to_dict() | {"mean_model_batch": round(mean_batch(before, stats.batch_counts("fecnet_ort_python")), 2)}
            rows.append(row)
            print(f"  concurrency {clients}: {row['images_per_s']} images/s, p99 {row['p99_ms']} ms", file=sys.stderr)
    return rows


def table(rows: list[dict], args) -> str:
    lines = [f"protocol {args.protocol}, {args.instances} instance(s) per model, max_batch {args.max_batch}, "
             f"queue delay {args.max_queue_delay_us} us, ORT threads {args.ort_threads}",
             "", "| clients | requests | failures | images/s | p50 ms | p99 ms | mean model batch |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['clients']} | {r['requests']} | {r['failures']} | {r['images_per_s']} | {r['p50_ms']} | "
              f"{r['p99_ms']} | {r['mean_model_batch']} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--export", type=Path, help="An fec-export ONNX folder.")
    source.add_argument("--checkpoint", type=Path, help="A checkpoint, exported to ONNX first.")
    parser.add_argument("--pictures", type=Path, help="Folder of pictures to send (default: LFW faces).")
    parser.add_argument("--protocol", choices=["http", "grpc"], default="http")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--requests", type=int, default=200, help="Requests per client.")
    parser.add_argument("--deadline", type=float, default=120.0, help="Seconds per concurrency at most.")
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--max-queue-delay-us", type=int, default=1000)
    parser.add_argument("--ort-threads", type=int, default=0)
    parser.add_argument("--json", type=Path, help="Also write the rows as JSON.")
    args = parser.parse_args()

    payloads = folder_pictures(args.pictures) if args.pictures else lfw_pictures()
    with tempfile.TemporaryDirectory(prefix="fec-triton-load-") as scratch:
        options = RepositoryOptions(embedding="ort-python", instances=args.instances, max_batch=args.max_batch,
                                    max_queue_delay_us=args.max_queue_delay_us, ort_threads=args.ort_threads)
        repo = Path(scratch) / "repo"
        write_repository(read_exports([export_folder(args, Path(scratch))]), options, repo)
        with TritonServer(repo, log_path=Path(scratch) / "server.log") as server:
            print(f"{server.install.source}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                  f"load average before {os.getloadavg()[0]:.1f}", file=sys.stderr)
            rows = measure(server, args, payloads)
    print(table(rows, args))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
