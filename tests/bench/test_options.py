"""A run's options: window sizing from --iters/--duration, the modes of --mode, and the settings a report records."""

from __future__ import annotations

import pytest

from fec.bench import BenchError, MeasureSettings
from fec.bench.options import BenchOptions, bench_modes, sized_windows


def test_a_window_is_sized_by_iterations_or_a_duration_never_both():
    assert sized_windows(MeasureSettings(iters=None)).iters == 50
    assert sized_windows(MeasureSettings(iters=7)).iters == 7
    timed = sized_windows(MeasureSettings(iters=None, duration_s=0.5))
    assert (timed.iters, timed.duration_s) == (None, 0.5)
    with pytest.raises(BenchError, match=r"^give --iters or --duration, not both$"):
        sized_windows(MeasureSettings(iters=5, duration_s=0.5))


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        BenchOptions([1, 8])  # positional options are refused


def test_report_settings_are_the_measurement_settings_then_threads_inputs_concurrency_and_mode():
    settings = MeasureSettings(warmup_iters=3, iters=4)
    faces = BenchOptions(batches=[1], settings=settings, data="test.csv", threads=2, modes=bench_modes("both"))
    random = BenchOptions(batches=[1], settings=settings, concurrency=4, modes=bench_modes("end-to-end"))

    assert list(faces.report_settings()) == ["warmup_iters", "warmup_s", "iters", "duration_s", "tolerance",
                                             "max_windows", "max_total_s", "cv_limit", "threads", "inputs",
                                             "concurrency", "mode"]
    assert faces.report_settings()["iters"] == 4 and faces.report_settings()["warmup_iters"] == 3
    assert [faces.report_settings()[key] for key in ("threads", "inputs", "concurrency", "mode")] == [2, "faces", 1, "both"]
    assert [random.report_settings()[key] for key in ("threads", "inputs", "concurrency", "mode")] == [
        None, "random", 4, "end-to-end"]


def test_compute_only_drops_end_to_end_and_keeps_the_rest():
    options = BenchOptions(batches=[1, 2], modes=bench_modes("both"), keep_going=True)
    assert options.compute_only() == BenchOptions(batches=[1, 2], modes=("compute",), keep_going=True)
