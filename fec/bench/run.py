"""From targets to measurements: which backends can run what, the input batch, one row per (backend, batch).

A target is a checkpoint (.pt: torch, torch_compile) or an export folder with an ONNX file
(onnxruntime). Inputs are real face crops from a triplet CSV, or random normalised data when
asked (never zeros: some kernels take shortcuts on zeros).
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from fec.bench.cuda import CudaProbe, cuda_probe
from fec.bench.errors import BenchError
from fec.bench.measure import MeasureSettings, measure, no_sync
from fec.bench.report import BenchRow
from fec.preprocessing import Preprocessing, normalize_uint8
from fec.runtimes.base import Runner
from fec.runtimes.onnxruntime_runner import UINT8_NHWC

CHECKPOINT_BACKENDS = ("torch", "torch_compile")
ONNX_BACKENDS = ("onnxruntime",)
BACKENDS = CHECKPOINT_BACKENDS + ONNX_BACKENDS
KIND_NAMES = {"checkpoint": "checkpoints", "onnx": "ONNX exports"}


@dataclass(frozen=True)
class Target:
    """What to benchmark: a checkpoint or the ONNX file of an export folder, with its preprocessing."""

    path: Path
    kind: str                 # "checkpoint" or "onnx"
    prep: Preprocessing
    precision: str
    model_file: Path          # the .pt or .onnx the runner loads
    face_size: int
    face_margin: float

    @property
    def backends(self) -> tuple[str, ...]:
        return CHECKPOINT_BACKENDS if self.kind == "checkpoint" else ONNX_BACKENDS


def resolve_target(path: str | Path) -> Target:
    """A checkpoint file or an export folder, or BenchError saying why it is neither."""
    path = Path(path)
    if not path.exists():
        raise BenchError(f"{path}: target not found (give a checkpoint .pt or an export folder)")
    if path.is_file():
        return checkpoint_target(path)
    return export_target(path)


def checkpoint_target(path: Path) -> Target:
    from fec.train.checkpoint import read_checkpoint

    payload = read_checkpoint(path)
    training = payload.get("config") or {}
    return Target(path, "checkpoint", Preprocessing.from_dict(payload["preprocessing"]), "fp32", path,
                  training.get("face_size") or 224, training.get("face_margin") or 0.0)


def export_target(folder: Path) -> Target:
    from fec.export.manifest import artifact, read_manifest

    manifest = read_manifest(folder)
    onnx_entry = artifact(manifest, "onnx")
    if onnx_entry is None:
        roles = ", ".join(sorted({entry["role"] for entry in manifest.get("files", [])})) or "none"
        raise BenchError(f"{folder}: no ONNX file in this export (roles: {roles}); fec-bench runs ONNX exports "
                         f"with {', '.join(ONNX_BACKENDS)}")
    source = manifest.get("source") or {}
    return Target(folder, "onnx", Preprocessing.from_dict(manifest["preprocessing"]), manifest.get("precision", "fp32"),
                  folder / onnx_entry["path"], source.get("face_size") or 224, source.get("face_margin") or 0.0)


def plan(targets: list[Target], backends: list[str] | None) -> list[tuple[Target, str]]:
    """(target, backend) pairs to run: every requested backend must fit some target, every target some backend."""
    unknown = [name for name in backends or [] if name not in BACKENDS]
    if unknown:
        raise BenchError(f"unknown backend {unknown[0]!r}; available: {', '.join(BACKENDS)}")
    pairs = [(target, name) for target in targets for name in target.backends if backends is None or name in backends]
    for name in backends or []:
        if not any(name == backend for _, backend in pairs):
            kinds = " or ".join(sorted({KIND_NAMES[target.kind] for target in targets}))
            raise BenchError(f"backend {name!r} cannot run {kinds} "
                             f"(checkpoints: {', '.join(CHECKPOINT_BACKENDS)}; ONNX exports: {', '.join(ONNX_BACKENDS)})")
    for target in targets:
        if not any(chosen is target for chosen, _ in pairs):
            raise BenchError(f"{target.path}: none of the chosen backends can run it (it needs one of "
                             f"{', '.join(target.backends)})")
    return pairs


def create_bench_runner(target: Target, backend: str, threads: int | None):
    from fec.runtimes import create_runner

    if backend == "onnxruntime":
        return create_runner(backend, model=target.model_file, provider="cpu", threads=threads)
    if threads:
        import torch

        torch.set_num_threads(threads)
    return create_runner(backend, checkpoint=target.model_file, device="cpu", precision=target.precision)


def load_faces(csv_path: str | Path, target: Target, count: int) -> np.ndarray:
    """Up to `count` real face crops (uint8 NHWC at the model's input size) from a triplet CSV or data folder."""
    from fec.data.dataset import load_triplets

    csv_path = Path(csv_path)
    if csv_path.is_dir():
        csv_path = csv_path / "test.csv"
    loaded = load_triplets(csv_path, target.prep.input_size, face_size=target.face_size, margin=target.face_margin,
                           skip_bad_rows=True, cache=False)
    faces = loaded.dataset.faces
    return np.stack([faces[index] for index in range(min(count, len(faces)))])


def input_batch(faces: np.ndarray | None, batch: int, prep: Preprocessing, uint8_input: bool, seed: int = 0) -> np.ndarray:
    """A batch of `batch` faces (repeated when there are fewer), or random data when `faces` is None."""
    rng = np.random.default_rng(seed)
    if faces is None:
        pixels = rng.integers(1, 256, size=(batch, prep.input_size, prep.input_size, 3), dtype=np.uint8)
        if uint8_input:
            return pixels
        return rng.standard_normal((batch, 3, prep.input_size, prep.input_size)).astype(np.float32)
    chosen = np.ascontiguousarray(faces[np.arange(batch) % len(faces)])
    return chosen if uint8_input else normalize_uint8(chosen, prep)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB): a high-water mark, never decreasing."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024.0


def bench_targets(targets: list[Target], backends: list[str] | None, batches: list[int], settings: MeasureSettings,
                  data: str | Path | None = None, threads: int | None = None,
                  progress: Callable[[str], None] | None = None) -> list[BenchRow]:
    """Measure every (target, backend, batch); faces from `data`, or random inputs when `data` is None."""
    pairs = plan(targets, backends)
    settings.validate()
    if not batches or min(batches) < 1:
        raise BenchError(f"batch sizes must be >= 1, got {batches}")
    rows, faces_of = [], {}
    for target, backend in pairs:
        if data is not None and target.path not in faces_of:
            faces_of[target.path] = load_faces(data, target, max(batches))
        with create_bench_runner(target, backend, threads) as runner:
            rows += bench_runner(runner, target, backend, batches, settings, faces_of.get(target.path), progress,
                                 cuda_probe(runner))
    return rows


def bench_runner(runner: Runner, target: Target, backend: str, batches: list[int], settings: MeasureSettings,
                 faces: np.ndarray | None, progress: Callable[[str], None] | None,
                 probe: CudaProbe | None = None) -> list[BenchRow]:
    """One active runner at each batch size: prime (compile, allocate, check the feed) untimed, then measure.

    With a CUDA `probe`, the device is synchronised around every timed iteration and its peak
    allocated memory is reset before, and read after, each batch size.
    """
    info = runner.describe()
    uint8_input = getattr(runner, "input_format", None) == UINT8_NHWC
    rows = []
    for batch in batches:
        if runner.max_batch is not None and batch > runner.max_batch:
            raise BenchError(f"{target.path}: batch {batch} exceeds this model's maximum {runner.max_batch}")
        if progress:
            progress(f"{backend} {target.precision} batch {batch} ({target.path.name})")
        feed = input_batch(faces, batch, target.prep, uint8_input)
        runner.infer(feed)  # the first call of a shape is where torch.compile compiles: never timed
        if probe is not None:
            probe.reset_peak()
        result = measure(lambda: runner.infer(feed), batch, settings,
                         sync=probe.synchronize if probe is not None else no_sync)
        rows.append(BenchRow(str(target.path), backend, target.precision, batch, result, peak_rss_mb(),
                             info.get("device") or info.get("provider") or "cpu",
                             "faces" if faces is not None else "random",
                             probe.peak_mb() if probe is not None else None))
    return rows
