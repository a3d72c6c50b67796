"""Benchmarks: latency and throughput of every backend, measured the way trtexec and perf_analyzer do.

`measure` times one prepared batch in windows until two consecutive windows agree; `run` turns
targets (checkpoints, export folders) into runners and measurements; `report` prints and saves
the same numbers as a table, JSON, CSV and a plot, and compares two JSON reports.
"""

from fec.bench.errors import BenchError
from fec.bench.measure import Measurement, MeasureSettings, measure

__all__ = ["BenchError", "Measurement", "MeasureSettings", "measure"]
