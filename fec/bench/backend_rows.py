"""One backend on one target, measured: its runner made and primed, then one BenchRow per batch and mode.

Two modes say what one timed iteration covers. "compute": `runner.infer` on a batch prepared
beforehand (for CUDA runners that includes the host-to-device copy of the batch and the copy of the
embeddings back, since `infer` takes and returns host arrays). "end-to-end": the face crops' JPEG
bytes (encoded once, in memory, before timing) are decoded, resized to the model's input, normalised
(or kept uint8 for uint8-input exports) and inferred. Server targets run compute only, with one
runner per concurrent client. What to run and on which targets is decided elsewhere (fec.bench.plan);
this module owns the runners' lifetime and what each timed iteration does.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from fec.artifacts import UINT8_NHWC
from fec.bench.cuda import CudaProbe, cuda_probe
from fec.bench.errors import BenchError
from fec.bench.inputs import FaceInputs, input_batch, jpeg_batch, preprocess_jpegs
from fec.bench.measure import ClientThreads, Measurement, MeasureSettings, measure, measure_concurrent, no_sync
from fec.bench.options import COMPUTE, BenchOptions
from fec.bench.report import BenchRow
from fec.bench.targets import Target
from fec.preprocessing import Preprocessing
from fec.runtimes.backends import Backend
from fec.runtimes.base import Runner


@dataclass
class Clients:
    """Concurrent clients: one runner per client thread."""

    threads: ClientThreads
    runners: list[Runner]

    def infer(self, index: int, feed: np.ndarray) -> np.ndarray:
        return self.runners[index].infer(feed)


def bench_backend(target: Target, backend: Backend, inputs: FaceInputs | None, options: BenchOptions) -> list[BenchRow]:
    """Activate the backend's runner (one per client) and measure it at every batch size (and mode)."""
    reason = backend.unavailable()
    if reason is not None:
        raise BenchError(f"backend {backend.name!r} cannot run here: {reason}")
    if options.concurrency == 1:
        with create_bench_runner(target, backend, options.threads) as runner:
            return bench_runner(runner, target, backend, options, inputs=inputs, probe=cuda_probe(runner))
    compute = replace(options, modes=(COMPUTE,))  # clients send prepared batches: there is no end-to-end here
    with ClientThreads(options.concurrency) as client_threads:
        clients = Clients(threads=client_threads, runners=[])
        try:  # each client's runner is made, used and closed on its own thread
            clients.runners = client_threads.each(lambda index: activated(create_bench_runner(target, backend, options.threads)))
            return bench_runner(clients.runners[0], target, backend, compute, inputs=inputs, clients=clients)
        finally:
            client_threads.each(lambda index: clients.runners[index].deactivate() if index < len(clients.runners) else None)


def create_bench_runner(target: Target, backend: Backend, threads: int | None) -> Runner:
    source, options = target.files[backend.kind], {}
    if backend.kind == "checkpoint" and threads:
        import torch

        torch.set_num_threads(threads)
    elif backend.kind == "onnx":
        options["threads"] = threads
        options.update(backend.export_options(target.tensorrt_profile))
    elif backend.kind.startswith("server"):
        options["model"] = target.model
    return backend.create_runner(source, **options)


def activated(runner: Runner) -> Runner:
    runner.activate()
    return runner


def bench_runner(runner: Runner, target: Target, backend: Backend, options: BenchOptions, *,
                 inputs: FaceInputs | None = None, probe: CudaProbe | None = None,
                 clients: Clients | None = None) -> list[BenchRow]:
    """One active runner at each batch size and mode: prime (compile, build, allocate, check the feed) untimed,
    then measure; random inputs when `inputs` is None.

    With a CUDA `probe`, the device is synchronised around every timed iteration and its peak
    allocated memory is reset before, and read after, each measurement. With `clients` (a concurrency
    above 1; `runner` is their first), every client sends the same batch at the same time.
    End-to-end iterations start from the inputs' JPEG bytes (see `timed_call`).
    """
    info = runner.describe()
    uint8_input = runner.input_format == UINT8_NHWC
    faces = inputs.faces if inputs is not None else None
    rows = []
    for batch in options.batches:
        if runner.max_batch is not None and batch > runner.max_batch:
            raise BenchError(f"{target.path}: batch {batch} exceeds this model's maximum {runner.max_batch}")
        for mode in options.modes:
            if options.progress:
                options.progress(f"{backend.name} batch {batch}{'' if mode == COMPUTE else ' ' + mode} ({target.label})")
            if clients is not None:
                result = measure_clients(clients, input_batch(faces, batch, target.prep, uint8_input), batch, options.settings)
            else:
                run_once = timed_call(runner, mode, batch, target.prep, uint8_input, inputs)
                result = measure_primed(run_once, batch, options.settings, probe)
            rows.append(BenchRow(target=target.path, backend=backend.name, precision=backend.row_precision(target.precision),
                                 batch=batch, measurement=result, peak_rss_mb=peak_rss_mb(), device=row_device(info),
                                 inputs="faces" if faces is not None else "random",
                                 cuda_peak_mb=probe.peak_mb() if probe is not None else None, mode=mode))
    return rows


def timed_call(runner: Runner, mode: str, batch: int, prep: Preprocessing, uint8_input: bool,
               inputs: FaceInputs | None) -> Callable[[], np.ndarray]:
    """One timed iteration: compute-only infers a batch prepared here, once; end-to-end decodes `batch` JPEGs,
    resizes and normalises them, then infers."""
    if mode == COMPUTE:
        feed = input_batch(inputs.faces if inputs is not None else None, batch, prep, uint8_input)
        return lambda: runner.infer(feed)
    if inputs is None or inputs.jpegs is None:
        raise BenchError("end-to-end mode needs the faces as JPEG bytes (real face crops from --data)")
    payloads = jpeg_batch(inputs.jpegs, batch)
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


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB): a high-water mark, never decreasing."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024.0


def row_device(info: dict) -> str:
    """Where a runner computes, for the report: a torch device, an ONNX Runtime provider, a GPU or a server."""
    return str(info.get("device") or info.get("provider") or info.get("gpu") or info.get("url") or "cpu")
