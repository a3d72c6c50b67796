"""Benchmarks: latency and throughput of every backend, measured the way trtexec and perf_analyzer do.

`measure` times one prepared batch in windows until two consecutive windows agree (one client or
several at once); `backends` is the registry of what runs what; `run` turns targets (checkpoints,
export folders, server URLs) into runners and measurements; `cuda` synchronises the device and reads
its peak memory; `report` prints and saves the same numbers as a table, JSON, CSV and a plot, merges
and compares reports; `train_throughput` times real training steps against steps on a cached batch.
"""

from fec.bench.errors import BenchError
from fec.bench.measure import Measurement, MeasureSettings, measure

__all__ = ["BenchError", "Measurement", "MeasureSettings", "measure"]
