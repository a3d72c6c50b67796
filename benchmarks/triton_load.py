"""Throughput and latency of the served `fecnet` (image bytes -> embedding) on loopback, beside the model alone.

Writes a python-backend repository from an export (or a checkpoint, exported first), starts the real
tritonserver on 127.0.0.1, and for each number of clients C and pictures per request runs C clients x R
requests in --chunks parts, after each part the same ONNX file on the same runtime with the same threads alone, at the
batch sizes the server ran in it (from its statistics). Prints Markdown tables: images/s, p50/p99 latency, the mean
batch the model ran, the model alone, their ratio, the CPU the clients and the server spent per image, and
where the server's time went (per model: queue, compute input / infer / output, from Triton's statistics).

    python benchmarks/triton_load.py --export export/fecnet-onnx --concurrency 1 8 32 --repeat 3
    python benchmarks/triton_load.py --checkpoint runs/demo/best.pt --images-per-request 1 16
    python benchmarks/triton_load.py --export export/fecnet-onnx --client tritonclient   # fec-embed's client

Pictures: the 100 real LFW faces bundled with scikit-image (25x25 PNGs), or --pictures DIR. The clients run on
the server's own cores (--client sockets takes the least CPU from it: fec/triton/load_generator.py).
Figures depend on the machine and its load: compare rows of one run, not runs on different days.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from fec.artifacts import FLOAT32_NCHW
from fec.hardware import cpu_info
from fec.runtimes.triton_client import TritonClient
from fec.triton.exports import read_exports
from fec.triton.load_generator import CLIENT_KINDS, LoadResult, run_load
from fec.triton.repository import RepositoryOptions, write_repository
from fec.triton.server import TritonServer

STAT_FIELDS = ("queue", "compute_input", "compute_infer", "compute_output")


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


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children (the server and its python-backend stubs)."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0.0
    for entry in Path("/proc").iterdir():
        try:
            text = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split() if text else []
        if fields and (int(entry.name) == pid or int(fields[1]) == pid):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def model_statistics(client: TritonClient) -> dict[str, dict]:
    """Per model: successful requests, executions, batch counts and the nanoseconds of each step (Triton's own)."""
    found = {}
    for entry in client.client.get_inference_statistics().get("model_stats", []):
        stats = entry["inference_stats"]
        found[entry["name"]] = {"requests": int(stats["success"]["count"]), "executions": int(entry["execution_count"]),
                                **{name: int(stats[name]["ns"]) for name in STAT_FIELDS},
                                "batches": {int(batch["batch_size"]): int(batch["compute_infer"]["count"])
                                            for batch in entry.get("batch_stats", [])}}
    return found


def statistics_delta(before: dict, after: dict) -> dict[str, dict]:
    delta = {}
    for name, now in after.items():
        then = before.get(name, {"batches": {}})
        change = {key: now[key] - then.get(key, 0) for key in now if key != "batches"}
        change["batches"] = {size: count - then["batches"].get(size, 0) for size, count in now["batches"].items()}
        if change["requests"]:
            delta[name] = change
    return delta


def breakdown(delta: dict[str, dict]) -> dict[str, dict]:
    """Per model: mean batch (images per execution) and microseconds per request in each step."""
    return {name: {"mean_batch": round(sum(size * count for size, count in stats["batches"].items())
                                       / max(1, sum(stats["batches"].values())), 2),
                   **{f"{field}_us": round(stats[field] / stats["requests"] / 1e3, 1) for field in STAT_FIELDS}}
            for name, stats in delta.items()}


def model_alone(runner, faces: np.ndarray, batches: dict[int, int], window_s: float = 0.05) -> tuple[int, float]:
    """(images, seconds) of the runner alone over the batch sizes the server ran, each weighted by how often it ran."""
    seconds, images = 0.0, 0
    for size, count in batches.items():
        if not count:
            continue
        batch = faces[np.arange(size) % len(faces)]
        runner.infer(batch)
        rates = []
        for _ in range(5):
            runs, began = 0, time.perf_counter()
            while time.perf_counter() - began < window_s:
                runner.infer(batch)
                runs += 1
            rates.append((time.perf_counter() - began) / runs)
        seconds += count * float(np.median(rates))
        images += count * size
    return images, seconds


def measure_row(server, stats, args, payloads, runner, faces, batched_model, clients, per_request) -> dict:
    """One row: the served run in `args.chunks` parts, the model alone run after each at that part's batch sizes, so
    that both see the machine in the same seconds (its speed moves by up to 1.7x between minutes, and more between
    seconds); images/s and the model alone are totals over the parts, the ratio theirs."""
    url = server.http_url if args.protocol == "http" else server.grpc_url
    requests = args.requests or max(50, 1600 // clients // per_request)
    parts = [requests // args.chunks + (index < requests % args.chunks) for index in range(args.chunks)]
    results, alone_images, alone_seconds, server_cpu = [], 0, 0.0, 0.0
    first = after = model_statistics(stats)  # Triton's counters only grow: the row's delta is first to last
    for part in (count for count in parts if count):
        before, cpu_before = after, tree_cpu_s(server.process.pid)
        results.append(run_load(url, args.protocol, "fecnet", payloads, clients, part, per_request, args.deadline,
                                args.client))
        server_cpu += tree_cpu_s(server.process.pid) - cpu_before
        after = model_statistics(stats)
        batches = statistics_delta(before, after).get(batched_model, {}).get("batches", {})
        images, seconds = model_alone(runner, faces, batches)
        alone_images, alone_seconds = alone_images + images, alone_seconds + seconds
    result, delta = LoadResult.combined(results), statistics_delta(first, after)
    alone = alone_images / alone_seconds if alone_seconds else float("nan")
    row = result.to_dict()
    images = max(1, (result.requests - result.failures) * per_request)
    row |= {"mean_model_batch": breakdown(delta).get(batched_model, {}).get("mean_batch", float("nan")),
            "model_alone_images_per_s": round(alone, 1), "ratio": round(result.throughput / alone, 3),
            "server_cpu_ms_per_image": round(server_cpu / images * 1000.0, 3), "models": breakdown(delta),
            "load_average": round(os.getloadavg()[0], 1)}
    print(f"  {clients} clients x {per_request} images: {row['images_per_s']} images/s, "
          f"model alone {row['model_alone_images_per_s']}, ratio {row['ratio']}", file=sys.stderr)
    return row


def faces_for(payloads: list[bytes], export: Path) -> np.ndarray:
    """The pictures as the model's float32 input (what the server feeds it), for the model-alone runs."""
    from fec.export.manifest import read_manifest
    from fec.preprocessing import Preprocessing
    from fec.triton.serving import prepare_faces

    manifest = read_manifest(export)
    prep = Preprocessing.from_dict(manifest["preprocessing"], export)
    return prepare_faces(payloads[:32], prep, output_format=manifest.get("input_format", FLOAT32_NCHW))


def measure(args, payloads: list[bytes], export: Path, repo: Path, scratch: Path) -> list[dict]:
    from fec.runtimes import create_runner

    rows = []
    runner = create_runner("onnxruntime", model=export / "model.onnx", threads=args.ort_threads or None, provider="cpu")
    runner.activate()
    faces = faces_for(payloads, export)
    with TritonServer(repo, log_path=scratch / "server.log") as server, TritonClient(server.http_url) as stats:
        python_fecnet = stats.model_config("fecnet").get("backend") == "python"
        batched_model = "fecnet" if python_fecnet else json.loads((repo / ".fec-triton.json").read_text())["embedding_model"]
        url = server.http_url if args.protocol == "http" else server.grpc_url
        run_load(url, args.protocol, "fecnet", payloads, 2, 20, client=args.client)  # warm connections and caches
        for repeat in range(args.repeat):
            for per_request in args.images_per_request:
                for clients in args.concurrency:
                    row = measure_row(server, stats, args, payloads, runner, faces, batched_model, clients, per_request)
                    rows.append({"run": repeat + 1, **row})
    return rows


def tables(rows: list[dict], args) -> str:
    head = (f"{cpu_info().model}, {os.cpu_count()} CPUs; protocol {args.protocol}, client {args.client}, "
            f"ONNX Runtime {args.ort_threads or 'default'} thread(s) per instance, max_batch {args.max_batch}, "
            f"queue delay {args.max_queue_delay_us} us, instances pinned to cores: {args.pin_cores}, {args.chunks} parts a row")
    lines = [head, "", "| run | clients | images/request | requests | failures | images/s | p50 ms | p99 ms | mean model batch "
             "| model alone images/s | ratio | client CPU ms/image | server CPU ms/image |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['run']} | {r['clients']} | {r['images_per_request']} | {r['requests']} | {r['failures']} | "
              f"{r['images_per_s']} | {r['p50_ms']} | {r['p99_ms']} | {r['mean_model_batch']} | "
              f"{r['model_alone_images_per_s']} | {r['ratio']} | {r['client_cpu_ms_per_image']} | "
              f"{r['server_cpu_ms_per_image']} |" for r in rows]
    lines += ["", "Where the server's time went (run 1; microseconds per request in each model, from Triton's statistics):",
              "", "| clients | images/request | model | mean batch | queue | compute input | compute infer | compute output |",
              "|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in (row for row in rows if row["run"] == 1):
        lines += [f"| {r['clients']} | {r['images_per_request']} | {name} | {m['mean_batch']} | {m['queue_us']} | "
                  f"{m['compute_input_us']} | {m['compute_infer_us']} | {m['compute_output_us']} |"
                  for name, m in r["models"].items()]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    defaults = RepositoryOptions()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--export", type=Path, help="An fec-export ONNX folder.")
    source.add_argument("--checkpoint", type=Path, help="A checkpoint, exported to ONNX first.")
    parser.add_argument("--pictures", type=Path, help="Folder of pictures to send (default: LFW faces).")
    parser.add_argument("--protocol", choices=["http", "grpc"], default="http")
    parser.add_argument("--client", choices=CLIENT_KINDS, default="sockets",
                        help="sockets: one thread and a selector over the connections (least CPU); "
                             "tritonclient: a thread each (fec-embed's).")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--images-per-request", type=int, nargs="+", default=[1])
    parser.add_argument("--requests", type=int, help="Requests per client [default: 1600 images per row in all].")
    parser.add_argument("--repeat", type=int, default=1, help="Runs of the whole sweep, on the same server.")
    parser.add_argument("--deadline", type=float, default=120.0, help="Seconds per part of a row at most.")
    parser.add_argument("--chunks", type=int, default=4,
                        help="Parts of each row, the model alone measured after each (see measure_row).")
    parser.add_argument("--instances", type=int, default=defaults.instances)
    parser.add_argument("--preprocess-instances", type=int, default=defaults.preprocess_instances)
    parser.add_argument("--max-batch", type=int, default=defaults.max_batch)
    parser.add_argument("--max-queue-delay-us", type=int, default=defaults.max_queue_delay_us)
    parser.add_argument("--ort-threads", type=int, default=1)
    parser.add_argument("--pin-cores", action=argparse.BooleanOptionalAction, default=defaults.pin_cores,
                        help="Each fused instance on a core of its own (fec-triton's default).")
    parser.add_argument("--json", type=Path, help="Also write the rows as JSON.")
    args = parser.parse_args()
    if args.client == "sockets" and args.protocol != "http":
        parser.error("--client sockets speaks HTTP only; use --client tritonclient for gRPC")
    if args.chunks < 1:
        parser.error(f"--chunks {args.chunks}: cut each row into at least 1 part")
    return args


def main() -> None:
    args = parse_args()
    payloads = folder_pictures(args.pictures) if args.pictures else lfw_pictures()
    with tempfile.TemporaryDirectory(prefix="fec-triton-load-") as scratch:
        options = RepositoryOptions(embedding="ort-python", instances=args.instances, max_batch=args.max_batch,
                                    max_queue_delay_us=args.max_queue_delay_us, ort_threads=args.ort_threads,
                                    preprocess_instances=args.preprocess_instances, pin_cores=args.pin_cores)
        export, repo = export_folder(args, Path(scratch)), Path(scratch) / "repo"
        write_repository(read_exports([export]), options, repo)
        print(f"{cpu_info().model}, load average before {os.getloadavg()[0]:.1f}", file=sys.stderr)
        rows = measure(args, payloads, export, repo, Path(scratch))
    print(tables(rows, args))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
