"""Timing one prepared batch: warm-up, then windows of timed iterations until two windows agree.

Like perf_analyzer, measurement repeats windows until the medians of two consecutive windows
agree within `tolerance` (or a cap on windows / total time is hit), and reports the last two
windows. Like trtexec, it reports mean, percentiles, min/max and the coefficient of variation,
and warns when the variation is too high for the numbers to be trusted.

    result = measure(lambda: runner.infer(batch), batch=8, settings=MeasureSettings(iters=50))
    result.p50_ms, result.throughput, result.stable

On a GPU, work is queued asynchronously: `sync` (torch.cuda.synchronize for CUDA runners) is called
before a window starts and after every iteration, before the clock is read, so each latency covers
all the device work the iteration queued (what a pair of CUDA events around it would measure, plus
the host's launch time) and nothing of the previous iteration's.

The clock and the synchronisation are injected so that tests can drive them with known delays.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from fec.bench.errors import BenchError

# What a row times: the model on a prepared batch, or everything from the crops' encoded bytes to embeddings.
COMPUTE, END_TO_END = "compute", "end-to-end"
MODES = (COMPUTE, END_TO_END)
# Caps on how long a user's numbers can make a measurement loop: far beyond any useful run (a window of a
# million iterations of a 1 ms model is 17 minutes), short of one that runs for days by a typo.
MAX_ITERS, MAX_WINDOWS, MAX_SECONDS = 1_000_000, 1000, 3600.0


@dataclass(frozen=True)
class MeasureSettings:
    """How long to warm up and to measure. `iters` or `duration_s` sizes one window (iters wins)."""

    warmup_iters: int = 10
    warmup_s: float | None = None      # when set, warm up for this long instead of a count
    iters: int | None = 50             # timed iterations per window
    duration_s: float | None = None    # or: seconds per window (at least one iteration)
    tolerance: float = 0.10            # two windows agree when their medians differ by at most this fraction
    max_windows: int = 10
    max_total_s: float = 60.0          # stop adding windows after this much timed time
    cv_limit: float = 0.10             # warn above this coefficient of variation

    def validate(self) -> None:
        checks = [
            (0 <= self.warmup_iters <= MAX_ITERS, f"warm-up iterations must be in [0, {MAX_ITERS}], got {self.warmup_iters}"),
            (self.warmup_s is None or 0 <= self.warmup_s <= MAX_SECONDS,
             f"warm-up seconds must be in [0, {MAX_SECONDS:g}], got {self.warmup_s}"),
            (self.iters is not None or self.duration_s is not None, "give iterations or a duration per window"),
            (self.iters is None or 1 <= self.iters <= MAX_ITERS, f"iterations must be in [1, {MAX_ITERS}], got {self.iters}"),
            (self.duration_s is None or 0 < self.duration_s <= MAX_SECONDS,
             f"duration must be in (0, {MAX_SECONDS:g}] seconds, got {self.duration_s}"),
            (self.tolerance > 0, f"stability tolerance must be > 0, got {self.tolerance}"),
            (self.max_windows >= 2, f"at least 2 windows are needed to judge stability, got {self.max_windows}"),
            (self.max_windows <= MAX_WINDOWS, f"at most {MAX_WINDOWS} windows, got {self.max_windows}"),
        ]
        for ok, message in checks:
            if not ok:
                raise BenchError(message)


@dataclass(frozen=True)
class Measurement:
    """Latencies (ms) of the reported windows and the statistics derived from them."""

    batch: int
    latencies_ms: tuple[float, ...]
    wall_s: float                      # clock time of the reported windows, loop overhead included
    windows: int                       # windows run in all
    stable: bool                       # the last two windows' medians agreed within the tolerance
    warmup_iters: int
    cv_limit: float = 0.10
    window_medians_ms: tuple[float, ...] = field(default=())
    concurrency: int = 1               # clients sending requests at once (latencies: every request of every client)

    @property
    def iterations(self) -> int:
        return len(self.latencies_ms)

    def _percentile(self, q: float) -> float:
        return float(np.percentile(np.asarray(self.latencies_ms), q))

    @property
    def mean_ms(self) -> float:
        return float(np.mean(self.latencies_ms))

    @property
    def p50_ms(self) -> float:
        return self._percentile(50)

    @property
    def p90_ms(self) -> float:
        return self._percentile(90)

    @property
    def p95_ms(self) -> float:
        return self._percentile(95)

    @property
    def p99_ms(self) -> float:
        return self._percentile(99)

    @property
    def min_ms(self) -> float:
        return float(min(self.latencies_ms))

    @property
    def max_ms(self) -> float:
        return float(max(self.latencies_ms))

    @property
    def cv(self) -> float:
        """Coefficient of variation: population standard deviation / mean (trtexec's 'CoV')."""
        mean = self.mean_ms
        return float(np.std(self.latencies_ms) / mean) if mean > 0 else 0.0

    @property
    def throughput(self) -> float:
        """Images per second: batch x iterations (of all clients) / clock time of the reported windows."""
        return self.batch * self.iterations / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def warning(self) -> str | None:
        """Why these numbers should not be trusted, or None."""
        notes = []
        if self.cv > self.cv_limit:
            notes.append(f"latency varies a lot (CV {self.cv:.1%} > {self.cv_limit:.0%}): other load on the machine, "
                         "frequency scaling or too few iterations; numbers may be unreliable")
        if not self.stable:
            notes.append(f"not stable: window medians still disagreed after {self.windows} windows")
        return "; ".join(notes) or None

    def stats(self) -> dict:
        return {"iterations": self.iterations, "mean_ms": self.mean_ms, "p50_ms": self.p50_ms, "p90_ms": self.p90_ms,
                "p95_ms": self.p95_ms, "p99_ms": self.p99_ms, "min_ms": self.min_ms, "max_ms": self.max_ms,
                "cv": self.cv, "throughput": self.throughput, "stable": self.stable, "windows": self.windows,
                "concurrency": self.concurrency}


def no_sync() -> None:
    """Synchronisation of host-only runners: nothing to wait for."""


def measure(run_once: Callable[[], object], batch: int, settings: MeasureSettings = MeasureSettings(),
            clock: Callable[[], float] = time.perf_counter, sync: Callable[[], None] = no_sync) -> Measurement:
    """Warm up (untimed), then time windows of `run_once()` until two consecutive window medians agree."""
    settings.validate()
    warmed = warm_up(run_once, settings, clock)
    sync()  # queued warm-up work must not land in the first timed iteration
    return stable_windows(lambda: time_window(run_once, settings, clock, sync), batch, settings, warmed)


class ClientThreads:
    """`count` long-lived threads, one per client; `each(task)` runs task(index) on every one at once.

    A client made on a thread is only ever used on that thread (the Triton HTTP client, built on
    gevent, fails when a connection made on one thread is used on another).
    """

    def __init__(self, count: int):
        self.count = count
        self.pools = [ThreadPoolExecutor(1, thread_name_prefix=f"bench-client-{index}") for index in range(count)]

    def each(self, task: Callable[[int], object]) -> list:
        futures = [pool.submit(task, index) for index, pool in enumerate(self.pools)]
        return [future.result() for future in futures]

    def close(self) -> None:
        for pool in self.pools:
            pool.shutdown()

    def __enter__(self) -> ClientThreads:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def measure_concurrent(threads: ClientThreads, run_once: Callable[[int], object], batch: int,
                       settings: MeasureSettings = MeasureSettings(),
                       clock: Callable[[], float] = time.perf_counter) -> Measurement:
    """`measure` with every client thread sending at once (like perf_analyzer's --concurrency-range):
    client `index` calls `run_once(index)`.

    A window lasts until every client has done its `iters` requests (or `duration_s`); throughput is
    batch x all requests / the window's wall time, and the latencies are those of every request.
    """
    settings.validate()
    warmed = sum(threads.each(lambda index: warm_up(lambda: run_once(index), settings, clock)))

    def window() -> tuple[list[float], float]:
        start = clock()
        per_client = threads.each(lambda index: time_window(lambda: run_once(index), settings, clock))
        return [latency for latencies, _ in per_client for latency in latencies], clock() - start

    return replace(stable_windows(window, batch, settings, warmed), concurrency=threads.count)


def stable_windows(next_window: Callable[[], tuple[list[float], float]], batch: int, settings: MeasureSettings,
                   warmed: int) -> Measurement:
    """Run windows until two consecutive medians agree (or a cap); the last two windows are reported."""
    windows: list[tuple[list[float], float]] = []
    timed = 0.0
    while True:
        window = next_window()
        windows.append(window)
        timed += window[1]
        if len(windows) >= 2 and medians_agree(windows[-2][0], windows[-1][0], settings.tolerance):
            stable = True
            break
        if len(windows) >= settings.max_windows or timed >= settings.max_total_s:
            stable = False
            break
    reported = windows[-2:]
    latencies = tuple(latency for window in reported for latency in window[0])
    return Measurement(batch, latencies, sum(window[1] for window in reported), len(windows), stable, warmed,
                       settings.cv_limit, tuple(float(np.median(window[0])) for window in windows))


def warm_up(run_once: Callable[[], object], settings: MeasureSettings, clock: Callable[[], float]) -> int:
    """Run untimed iterations (a count, or for `warmup_s` seconds); return how many ran."""
    count = 0
    if settings.warmup_s is not None:
        end = clock() + settings.warmup_s
        while clock() < end:
            run_once()
            count += 1
        return count
    for _ in range(settings.warmup_iters):
        run_once()
    return settings.warmup_iters


def time_window(run_once: Callable[[], object], settings: MeasureSettings, clock: Callable[[], float],
                sync: Callable[[], None] = no_sync) -> tuple[list[float], float]:
    """One window: (latency of each iteration in ms, seconds the window took); `sync` closes each iteration."""
    latencies: list[float] = []
    start = clock()
    while True:
        before = clock()
        run_once()
        sync()
        after = clock()
        latencies.append((after - before) * 1000.0)
        if settings.iters is not None:
            if len(latencies) >= settings.iters:
                break
        elif after - start >= settings.duration_s:
            break
    return latencies, clock() - start


def medians_agree(first: list[float], second: list[float], tolerance: float) -> bool:
    """Two windows agree when their medians differ by at most `tolerance` of the first."""
    reference = float(np.median(first))
    if reference <= 0:
        return float(np.median(second)) <= 0
    return abs(float(np.median(second)) - reference) / reference <= tolerance
