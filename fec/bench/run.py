"""From targets to measurements: which backends can run what, the input batch, one row per (backend, batch).

A target is a checkpoint (.pt), an export folder (its ONNX file, and its TensorRT engine when it has
one), or a model on a running Triton server (`http://HOST:PORT/MODEL`, `grpc://HOST:PORT/MODEL`).
Backends come from the registry in fec.bench.backends. Inputs are real face crops from a triplet CSV,
or random normalised data when asked (never zeros: some kernels take shortcuts on zeros).

Two modes say what one timed iteration covers. "compute": `runner.infer` on a batch prepared
beforehand (for CUDA runners that includes the host-to-device copy of the batch and the copy of the
embeddings back, since `infer` takes and returns host arrays). "end-to-end": the face crops' JPEG
bytes (encoded once, in memory, before timing) are decoded, resized to the model's input, normalised
(or kept uint8 for uint8-input exports) and inferred. Server targets run compute only: a Triton
server decodes and preprocesses on its side.
"""

from __future__ import annotations

import io
import resource
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fec.bench.backends import TARGET_KINDS, BenchBackend, backend_names, get_backend
from fec.bench.cuda import CudaProbe, cuda_probe
from fec.bench.errors import BenchError
from fec.bench.measure import ClientThreads, Measurement, MeasureSettings, measure, measure_concurrent, no_sync
from fec.bench.report import BenchRow
from fec.errors import FecError
from fec.preprocessing import Preprocessing, decode_image, normalize_uint8, resize_uint8
from fec.runtimes.base import Runner
from fec.runtimes.onnxruntime_runner import UINT8_NHWC, export_tensorrt_profile

SERVER_SCHEMES = {"http://": "server-http", "grpc://": "server-grpc"}
COMPUTE, END_TO_END = "compute", "end-to-end"
MODES = (COMPUTE, END_TO_END)
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Target:
    """What to benchmark, with what each kind of backend loads from it and its preprocessing."""

    path: str                         # as the user gave it: a file, a folder or a URL
    files: dict[str, str]             # target kind -> what the runner loads (.pt, .onnx, .plan, server address)
    prep: Preprocessing
    precision: str
    face_size: int = 224
    face_margin: float = 0.0
    tensorrt_profile: dict = field(default_factory=dict)  # ONNX Runtime TensorRT provider profile of an export
    model: str | None = None          # the model's name on a server

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.files)

    @property
    def label(self) -> str:
        return self.model or Path(self.path).name


def resolve_target(path: str | Path) -> Target:
    """A checkpoint file, an export folder or a server URL, or BenchError saying why it is neither."""
    text = str(path)
    if text.startswith(tuple(SERVER_SCHEMES)):
        return server_target(text)
    if "://" in text:
        raise BenchError(f"{text}: unsupported URL; a server target is http://HOST:PORT/MODEL or grpc://HOST:PORT/MODEL")
    path = Path(path)
    if not path.exists():
        raise BenchError(f"{path}: target not found (give a checkpoint .pt, an export folder or a server URL)")
    if path.is_file():
        return checkpoint_target(path)
    return export_target(path)


def checkpoint_target(path: Path) -> Target:
    from fec.train.checkpoint import read_checkpoint

    payload = read_checkpoint(path)
    training = payload.get("config") or {}
    return Target(str(path), {"checkpoint": str(path)}, Preprocessing.from_dict(payload["preprocessing"]), "fp32",
                  training.get("face_size") or 224, training.get("face_margin") or 0.0)


def export_target(folder: Path) -> Target:
    """An export folder, trusted only after its files match their sha256 and its ONNX file its manifest."""
    from fec.export.manifest import artifact
    from fec.export.onnx_export import trusted_export

    manifest, _ = trusted_export(folder)
    files = {kind: str(folder / entry["path"]) for kind, role in (("onnx", "onnx"), ("engine", "engine"))
             if (entry := artifact(manifest, role)) is not None}
    if not files:
        roles = ", ".join(sorted({entry["role"] for entry in manifest.get("files", [])})) or "none"
        raise BenchError(f"{folder}: no ONNX file or TensorRT engine in this export (roles: {roles})")
    source = manifest.get("source") or {}
    return Target(str(folder), files, Preprocessing.from_dict(manifest["preprocessing"]), manifest.get("precision", "fp32"),
                  source.get("face_size") or 224, source.get("face_margin") or 0.0, export_tensorrt_profile(manifest))


def server_target(url: str) -> Target:
    """A model on a running server: its input size from the server, its preprocessing from the repository's
    `<name>_preprocess` model when there is one (else the default mean/std)."""
    from fec.runtimes.triton_runner import EMBEDDING_SUFFIXES, TritonRunner

    kind = next(kind for scheme, kind in SERVER_SCHEMES.items() if url.startswith(scheme))
    address, _, model = url.split("://", 1)[1].partition("/")
    with TritonRunner(address, kind.split("-")[1], model.strip("/") or None) as runner:
        base = next((runner.model[: -len(suffix)] for suffix in EMBEDDING_SUFFIXES if runner.model.endswith(suffix)), None)
        prep = server_preprocessing(runner.client, base) or Preprocessing(runner.input_size or 224)
        return Target(url, {kind: address}, prep, "fp32", model=runner.model)


def server_preprocessing(client, base: str | None) -> Preprocessing | None:
    import json

    from fec.triton.errors import ServingError

    if base is None or not client.model_ready(f"{base}_preprocess"):
        return None
    try:
        parameters = client.model_config(f"{base}_preprocess").get("parameters", {})
        return Preprocessing.from_dict(json.loads(parameters["preprocessing"]["string_value"]))
    except (ServingError, KeyError, ValueError):
        return None


def plan(targets: list[Target], backends: list[str] | None) -> list[tuple[Target, BenchBackend]]:
    """(target, backend) pairs: by default every backend that fits a target and can run here; else the named ones,
    each fitting some target, and every target getting one."""
    if backends is None:
        return [(target, backend) for target in targets for backend in default_backends(target)]
    chosen = [get_backend(name) for name in backends]
    pairs = [(target, backend) for target in targets for backend in chosen if backend.kind in target.kinds]
    for backend in chosen:
        if not any(backend is picked for _, picked in pairs):
            kinds = " or ".join(sorted({TARGET_KINDS[kind] for target in targets for kind in target.kinds}))
            runs = "; ".join(f"{TARGET_KINDS[kind]}: {', '.join(backend_names(kind))}"
                             for kind in sorted({kind for target in targets for kind in target.kinds}))
            raise BenchError(f"backend {backend.name!r} cannot run {kinds} (it runs {TARGET_KINDS[backend.kind]}; {runs})")
    for target in targets:
        if not any(chosen_target is target for chosen_target, _ in pairs):
            fitting = [name for kind in target.kinds for name in backend_names(kind)]
            raise BenchError(f"{target.path}: none of the chosen backends can run it (it needs one of {', '.join(fitting)})")
    return pairs


def default_backends(target: Target) -> list[BenchBackend]:
    fitting = [get_backend(name) for kind in target.kinds for name in backend_names(kind)]
    available = [backend for backend in fitting if backend.unavailable() is None]
    if not available:
        reasons = "; ".join(f"{backend.name}: {backend.unavailable()}" for backend in fitting)
        raise BenchError(f"{target.path}: no backend that runs it can run here ({reasons})")
    return available


def create_bench_runner(target: Target, backend: BenchBackend, threads: int | None) -> Runner:
    from fec.runtimes import create_runner

    options, source = dict(backend.options), target.files[backend.kind]
    if backend.kind == "checkpoint":
        if threads:
            import torch

            torch.set_num_threads(threads)
        return create_runner(backend.runner, checkpoint=source, precision=backend.precision or "fp32", **options)
    if backend.kind == "onnx":
        if options.get("provider") == "tensorrt" and target.tensorrt_profile:
            options["provider_options"] = target.tensorrt_profile
        return create_runner(backend.runner, model=source, threads=threads, **options)
    if backend.kind == "engine":
        return create_runner(backend.runner, engine=source, **options)
    return create_runner(backend.runner, url=source, model=target.model, **options)


def load_faces(csv_path: str | Path, target: Target, count: int, size: int | None = None) -> np.ndarray:
    """Up to `count` real face crops (uint8 NHWC of `size` pixels, by default the model's input size) from a
    triplet CSV or data folder."""
    from fec.data.dataset import load_triplets

    csv_path = Path(csv_path)
    if csv_path.is_dir():
        csv_path = csv_path / "test.csv"
    loaded = load_triplets(csv_path, size or target.prep.input_size, face_size=target.face_size,
                           margin=target.face_margin, skip_bad_rows=True, cache=False)
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


def encode_jpegs(faces: np.ndarray, quality: int = JPEG_QUALITY) -> list[bytes]:
    """Each uint8 HWC face as JPEG bytes in memory: what an end-to-end iteration starts from."""
    from PIL import Image

    payloads = []
    for face in faces:
        buffer = io.BytesIO()
        Image.fromarray(face).save(buffer, format="JPEG", quality=quality)
        payloads.append(buffer.getvalue())
    return payloads


def jpeg_batch(payloads: list[bytes], batch: int) -> list[bytes]:
    """`batch` JPEG payloads (repeated when there are fewer), in input_batch's order."""
    return [payloads[index % len(payloads)] for index in range(batch)]


def preprocess_jpegs(payloads: list[bytes], prep: Preprocessing, uint8_input: bool) -> np.ndarray:
    """JPEG bytes -> the runner's feed: decoded, resized to the model's input, normalised (uint8 NHWC kept as is)."""
    pixels = np.stack([resize_uint8(decode_image(payload), prep.input_size) for payload in payloads])
    return pixels if uint8_input else normalize_uint8(pixels, prep)


def bench_modes(choice: str) -> tuple[str, ...]:
    """The modes of `--mode compute|end-to-end|both`."""
    if choice == "both":
        return MODES
    if choice not in MODES:
        raise BenchError(f"unknown mode {choice!r}; choose compute, end-to-end or both")
    return (choice,)


def is_server(path: str) -> bool:
    return str(path).startswith(tuple(SERVER_SCHEMES))


def check_modes(paths: list[str], modes: tuple[str, ...], faces: bool) -> None:
    """End-to-end needs real faces, and covers local runners only (checked on the paths: no server is contacted)."""
    if END_TO_END not in modes:
        return
    if not faces:
        raise BenchError("--mode end-to-end starts from the JPEG bytes of real face crops: give --data "
                         "(not --inputs random)")
    servers = [path for path in paths if is_server(path)]
    if servers and modes == (END_TO_END,):
        raise BenchError(f"{servers[0]}: --mode end-to-end does not apply to Triton server targets (the server "
                         "decodes and preprocesses on its side); use --mode compute or both")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB): a high-water mark, never decreasing."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024.0


@dataclass
class BenchOutcome:
    """Rows measured, and the (target, backend) pairs that could not run (with --keep-going)."""

    rows: list[BenchRow] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FaceInputs:
    """A target's real faces: crops at the model's input size (compute), and as JPEG bytes (end-to-end)."""

    faces: np.ndarray
    jpegs: list[bytes] | None = None


def face_inputs(data: str | Path, target: Target, count: int, modes: tuple[str, ...]) -> FaceInputs:
    """The faces, and for end-to-end the same crops at their stored size (resizing is part of the timed work)
    encoded as JPEG once, before any timing."""
    faces = load_faces(data, target, count)
    if END_TO_END not in modes:
        return FaceInputs(faces)
    return FaceInputs(faces, encode_jpegs(load_faces(data, target, count, size=target.face_size)))


def bench_targets(targets: list[Target], backends: list[str] | None, batches: list[int], settings: MeasureSettings,
                  data: str | Path | None = None, threads: int | None = None,
                  progress: Callable[[str], None] | None = None, concurrency: int = 1,
                  keep_going: bool = False, modes: tuple[str, ...] = (COMPUTE,)) -> BenchOutcome:
    """Measure every (target, backend, batch, mode); faces from `data`, or random inputs when `data` is None.

    With `keep_going`, a backend that cannot run here or fails is recorded in `failures` and the others
    still run; without it, the first one stops the run. Server targets skip end-to-end, with a note.
    """
    pairs = plan(targets, backends)
    check_request(pairs, batches, settings, concurrency)
    check_modes([target.path for target in targets], modes, data is not None)
    outcome, inputs_of = BenchOutcome(), {}
    for target, backend in pairs:
        pair_modes = modes
        if backend.kind.startswith("server") and END_TO_END in modes:
            pair_modes = tuple(mode for mode in modes if mode != END_TO_END)
            outcome.notes.append(f"{backend.name} ({target.label}): end-to-end skipped, the server preprocesses "
                                 "on its side (compute only)")
        try:
            if data is not None and target.path not in inputs_of:
                inputs_of[target.path] = face_inputs(data, target, max(batches), pair_modes)
            outcome.rows += bench_backend(target, backend, batches, settings, inputs_of.get(target.path), threads,
                                          progress, concurrency, pair_modes)
        except Exception as exc:  # noqa: BLE001 - recorded per backend with --keep-going, re-raised otherwise
            if not keep_going:
                raise
            outcome.failures.append(failure(target, backend, exc, progress))
    return outcome


def check_request(pairs: list[tuple[Target, BenchBackend]], batches: list[int], settings: MeasureSettings,
                  concurrency: int) -> None:
    settings.validate()
    if not batches or min(batches) < 1:
        raise BenchError(f"batch sizes must be >= 1, got {batches}")
    if concurrency < 1:
        raise BenchError(f"concurrency must be >= 1, got {concurrency}")
    local = sorted({backend.name for _, backend in pairs if not backend.kind.startswith("server")})
    if concurrency > 1 and local:
        raise BenchError(f"--concurrency {concurrency} applies to Triton server targets; {', '.join(local)} "
                         "run one request at a time")


def failure(target: Target, backend: BenchBackend, exc: Exception, progress: Callable[[str], None] | None) -> dict:
    """A failed (target, backend) as a report entry; a bug (not a FecError) also shows its traceback."""
    message = str(exc) if isinstance(exc, FecError) else f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, FecError):
        print(traceback.format_exc(), file=sys.stderr)
    if progress:
        progress(f"{backend.name} ({target.label}) failed: {message}")
    return {"target": target.path, "backend": backend.name, "error": message.splitlines()[0] if message else ""}


def bench_backend(target: Target, backend: BenchBackend, batches: list[int], settings: MeasureSettings,
                  inputs: FaceInputs | None, threads: int | None, progress: Callable[[str], None] | None,
                  concurrency: int = 1, modes: tuple[str, ...] = (COMPUTE,)) -> list[BenchRow]:
    """Activate the backend's runner (one per client) and measure it at every batch size (and mode)."""
    reason = backend.unavailable()
    if reason is not None:
        raise BenchError(f"backend {backend.name!r} cannot run here: {reason}")
    faces = inputs.faces if inputs is not None else None
    if concurrency == 1:
        with create_bench_runner(target, backend, threads) as runner:
            return bench_runner(runner, target, backend, batches, settings, faces, progress, cuda_probe(runner),
                                modes=modes, jpegs=inputs.jpegs if inputs is not None else None)
    with ClientThreads(concurrency) as client_threads:
        clients = Clients(client_threads, [])
        try:  # each client's runner is made, used and closed on its own thread
            clients.runners = client_threads.each(lambda index: activated(create_bench_runner(target, backend, threads)))
            return bench_runner(clients.runners[0], target, backend, batches, settings, faces, progress, clients=clients)
        finally:
            client_threads.each(lambda index: clients.runners[index].deactivate() if index < len(clients.runners) else None)


def activated(runner: Runner) -> Runner:
    runner.activate()
    return runner


@dataclass
class Clients:
    """Concurrent clients: one runner per client thread."""

    threads: ClientThreads
    runners: list[Runner]

    def infer(self, index: int, feed: np.ndarray) -> np.ndarray:
        return self.runners[index].infer(feed)


def bench_runner(runner: Runner, target: Target, backend: BenchBackend, batches: list[int], settings: MeasureSettings,
                 faces: np.ndarray | None, progress: Callable[[str], None] | None,
                 probe: CudaProbe | None = None, clients: Clients | None = None,
                 modes: tuple[str, ...] = (COMPUTE,), jpegs: list[bytes] | None = None) -> list[BenchRow]:
    """One active runner at each batch size and mode: prime (compile, build, allocate, check the feed) untimed,
    then measure.

    With a CUDA `probe`, the device is synchronised around every timed iteration and its peak
    allocated memory is reset before, and read after, each measurement. With `clients` (a concurrency
    above 1; `runner` is their first), every client sends the same batch at the same time.
    End-to-end iterations start from `jpegs` (see `timed_call`).
    """
    info = runner.describe()
    uint8_input = getattr(runner, "input_format", None) == UINT8_NHWC
    rows = []
    for batch in batches:
        if runner.max_batch is not None and batch > runner.max_batch:
            raise BenchError(f"{target.path}: batch {batch} exceeds this model's maximum {runner.max_batch}")
        for mode in modes:
            if progress:
                progress(f"{backend.name} batch {batch}{'' if mode == COMPUTE else ' ' + mode} ({target.label})")
            if clients is not None:
                result = measure_clients(clients, input_batch(faces, batch, target.prep, uint8_input), batch, settings)
            else:
                run_once = timed_call(runner, mode, batch, target.prep, uint8_input, faces, jpegs)
                result = measure_primed(run_once, batch, settings, probe)
            rows.append(BenchRow(target.path, backend.name, backend.row_precision(target.precision), batch, result,
                                 peak_rss_mb(), row_device(info), "faces" if faces is not None else "random",
                                 probe.peak_mb() if probe is not None else None, mode))
    return rows


def timed_call(runner: Runner, mode: str, batch: int, prep: Preprocessing, uint8_input: bool,
               faces: np.ndarray | None, jpegs: list[bytes] | None) -> Callable[[], np.ndarray]:
    """One timed iteration: compute-only infers a batch prepared here, once; end-to-end decodes `batch` JPEGs,
    resizes and normalises them, then infers."""
    if mode == COMPUTE:
        feed = input_batch(faces, batch, prep, uint8_input)
        return lambda: runner.infer(feed)
    if jpegs is None:
        raise BenchError("end-to-end mode needs the faces as JPEG bytes (real face crops from --data)")
    payloads = jpeg_batch(jpegs, batch)
    return lambda: runner.infer(preprocess_jpegs(payloads, prep, uint8_input))


def measure_primed(run_once: Callable[[], object], batch: int, settings: MeasureSettings,
                   probe: CudaProbe | None) -> Measurement:
    """The first call of a shape compiles (torch.compile), builds (TensorRT EP), captures (CUDA graphs): untimed."""
    run_once()
    if probe is not None:
        probe.reset_peak()
    return measure(run_once, batch, settings, sync=probe.synchronize if probe is not None else no_sync)


def measure_clients(clients: Clients, feed: np.ndarray, batch: int, settings: MeasureSettings) -> Measurement:
    """Every client primes once (untimed), then all send `feed` at the same time."""
    clients.threads.each(lambda index: clients.infer(index, feed))
    return measure_concurrent(clients.threads, lambda index: clients.infer(index, feed), batch, settings)


def row_device(info: dict) -> str:
    """Where a runner computes, for the report: a torch device, an ONNX Runtime provider, a GPU or a server."""
    return str(info.get("device") or info.get("provider") or info.get("gpu") or info.get("url") or "cpu")
