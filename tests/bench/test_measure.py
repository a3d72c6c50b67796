"""measure(): statistics from known delays on a fake clock; the stability loop stops when windows agree, caps otherwise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fec.bench import BenchError, MeasureSettings, measure


def test_statistics_of_known_delays(fake_clock, delayed):
    # two identical windows of 1..100 ms: each value appears twice among 200 latencies
    runner = delayed(list(range(1, 101)) * 2)
    result = measure(runner, batch=4, settings=MeasureSettings(warmup_iters=0, iters=100), clock=fake_clock)

    assert result.stable and result.windows == 2 and result.iterations == 200
    assert result.mean_ms == pytest.approx(50.5)
    assert result.p50_ms == pytest.approx(50.5)
    assert result.p90_ms == pytest.approx(90.1)   # linear interpolation between the 180th and 181st values
    assert result.p95_ms == pytest.approx(95.05)
    assert result.p99_ms == pytest.approx(99.01)
    assert (result.min_ms, result.max_ms) == (pytest.approx(1.0), pytest.approx(100.0))
    assert result.cv == pytest.approx(math.sqrt((100 ** 2 - 1) / 12) / 50.5)
    assert result.wall_s == pytest.approx(2 * 5.050)
    assert result.throughput == pytest.approx(4 * 200 / 10.1)


def test_warm_up_is_run_but_never_timed(fake_clock, delayed):
    runner = delayed([1000.0] * 3 + [2.0])
    result = measure(runner, batch=1, settings=MeasureSettings(warmup_iters=3, iters=5), clock=fake_clock)

    assert result.warmup_iters == 3 and runner.calls == 3 + 10
    assert result.max_ms == pytest.approx(2.0) and result.throughput == pytest.approx(500.0)


def test_warm_up_by_seconds_and_windows_by_duration(fake_clock, delayed):
    runner = delayed([3.0])
    settings = MeasureSettings(warmup_s=0.010, iters=None, duration_s=0.010)
    result = measure(runner, batch=2, settings=settings, clock=fake_clock)

    assert result.warmup_iters == 4                  # 0, 3, 6, 9 ms < 10 ms
    assert result.iterations == 8                    # each window runs until 10 ms have passed: 4 iterations
    assert result.throughput == pytest.approx(2 / 0.003)


def test_stability_stops_at_the_first_two_agreeing_windows(fake_clock, delayed):
    runner = delayed([10.0] * 3 + [5.0] * 3 + [5.2] * 3 + [50.0] * 30)
    result = measure(runner, batch=1, settings=MeasureSettings(warmup_iters=0, iters=3, tolerance=0.10), clock=fake_clock)

    assert result.stable and result.windows == 3 and runner.calls == 9
    assert result.window_medians_ms == pytest.approx((10.0, 5.0, 5.2))
    assert sorted(result.latencies_ms) == pytest.approx([5.0] * 3 + [5.2] * 3)  # the two agreeing windows only


def test_stability_caps_the_number_of_windows(fake_clock, delayed):
    runner = delayed(([10.0] * 2 + [20.0] * 2) * 20)  # medians alternate 10, 20, 10, ...: never agree
    result = measure(runner, batch=1, settings=MeasureSettings(warmup_iters=0, iters=2, max_windows=4), clock=fake_clock)

    assert not result.stable and result.windows == 4 and runner.calls == 8
    assert "not stable" in result.warning


def test_stability_caps_the_total_time(fake_clock, delayed):
    runner = delayed(([30.0] + [60.0]) * 20)
    settings = MeasureSettings(warmup_iters=0, iters=1, max_windows=10, max_total_s=0.1)
    result = measure(runner, batch=1, settings=settings, clock=fake_clock)

    assert not result.stable and result.windows == 3   # 30, 90, then 120 ms >= 100 ms
    assert runner.calls == 3


def test_high_variation_warns_and_steady_latency_does_not(fake_clock, delayed):
    steady = measure(delayed([4.0]), 1, MeasureSettings(warmup_iters=0, iters=10), clock=fake_clock)
    noisy = measure(delayed([1.0, 9.0] * 50), 1, MeasureSettings(warmup_iters=0, iters=10), clock=fake_clock)

    assert steady.cv == pytest.approx(0.0) and steady.warning is None
    assert noisy.cv == pytest.approx(0.8) and "CV 80.0%" in noisy.warning


def test_latencies_come_from_the_clock(fake_clock, delayed):
    runner = delayed([1.5, 2.5])
    result = measure(runner, 1, MeasureSettings(warmup_iters=0, iters=2), clock=fake_clock)

    # window medians 2.0 then 2.5 (25% apart), then 2.5 again: stable after three windows, the last two reported
    assert result.windows == 3 and result.window_medians_ms == pytest.approx((2.0, 2.5, 2.5))
    assert np.allclose(result.latencies_ms, [2.5] * 4)


@pytest.mark.parametrize("settings, message", [
    (MeasureSettings(iters=0), r"iterations must be in \[1, 1000000\], got 0"),
    (MeasureSettings(iters=10**7), r"iterations must be in \[1, 1000000\], got 10000000"),
    (MeasureSettings(max_windows=5000), "at most 1000 windows, got 5000"),
    (MeasureSettings(iters=None, duration_s=float("nan")), r"duration must be in \(0, 3600\] seconds, got nan"),
    (MeasureSettings(iters=None, duration_s=None), "iterations or a duration"),
    (MeasureSettings(max_windows=1), "at least 2 windows"),
    (MeasureSettings(warmup_iters=-1), "warm-up iterations"),
])
def test_bad_settings_are_user_errors(settings, message):
    with pytest.raises(BenchError, match=message):
        measure(lambda: None, 1, settings)


class AsyncDevice:
    """A fake GPU: an inference returns after `launch_ms` of host time, leaving `gpu_ms` of work queued;
    synchronising waits (moves the clock) until the queue is empty."""

    def __init__(self, clock, launch_ms: float, gpu_ms: float):
        self.clock, self.launch_ms, self.gpu_ms = clock, launch_ms, gpu_ms
        self.queued_ms, self.syncs = 0.0, 0

    def run_once(self) -> None:
        self.clock.now += self.launch_ms / 1000.0
        self.queued_ms += self.gpu_ms

    def synchronize(self) -> None:
        self.syncs += 1
        self.clock.now += self.queued_ms / 1000.0
        self.queued_ms = 0.0


def test_synchronising_puts_queued_device_work_inside_each_timed_iteration(fake_clock):
    device = AsyncDevice(fake_clock, launch_ms=0.5, gpu_ms=4.0)
    result = measure(device.run_once, 8, MeasureSettings(warmup_iters=3, iters=5), clock=fake_clock,
                     sync=device.synchronize)

    assert result.windows == 2 and result.latencies_ms == pytest.approx((4.5,) * 10)
    assert device.syncs == 1 + 10          # once after warm-up (its queued 12 ms stay out), once per iteration
    assert result.throughput == pytest.approx(8 / 0.0045)


def test_without_synchronising_an_asynchronous_runner_only_shows_its_launch_time(fake_clock):
    device = AsyncDevice(fake_clock, launch_ms=0.5, gpu_ms=4.0)
    result = measure(device.run_once, 1, MeasureSettings(warmup_iters=0, iters=5), clock=fake_clock)

    assert result.latencies_ms == pytest.approx((0.5,) * 10)   # why CUDA runners get a sync


def test_concurrent_clients_multiply_throughput_and_every_request_is_a_latency():
    """Three clients each taking 20 ms per request (sleeping: the GIL is free) on the real clock."""
    import threading
    import time

    from fec.bench.measure import ClientThreads, measure_concurrent

    calls: list[tuple[int, str]] = []

    def client(index: int) -> None:
        calls.append((index, threading.current_thread().name))
        time.sleep(0.020)

    settings = MeasureSettings(warmup_iters=1, iters=5, tolerance=0.5)
    with ClientThreads(3) as threads:
        result = measure_concurrent(threads, client, 4, settings)

    assert result.concurrency == 3 and result.stats()["concurrency"] == 3
    assert result.iterations == 3 * 5 * 2 and len(calls) == 3 + 3 * 5 * result.windows
    assert all(latency >= 19.9 for latency in result.latencies_ms)
    # one client alone would reach 4 / 0.020 = 200 images/s; three at once, close to 600
    assert 400 < result.throughput <= 600 * 1.01
    # each client always runs on its own thread
    assert {index: {name for seen, name in calls if seen == index} for index in range(3)} == {
        index: {f"bench-client-{index}_0"} for index in range(3)}
