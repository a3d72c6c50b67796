"""Benchmarks: latency and throughput of every backend, measured the way trtexec and perf_analyzer do.

`measure` times one prepared batch in windows until two consecutive windows agree (one client or
several at once); `backends` is the registry of what runs what; `options` holds how to benchmark
(one BenchOptions); `targets` resolves checkpoints, export folders and server URLs; `plan` pairs
targets with backends; `inputs` prepares faces, JPEG bytes or random batches; `backend_rows`
measures one backend on one target; `run` measures every planned pair into one outcome; `cuda`
synchronises the device and reads its peak memory; `report` prints and saves the same numbers as a
table, JSON, CSV and a plot, merges and compares reports; `train_throughput` times real training
steps against steps on a cached batch.
"""

from fec.bench.errors import BenchError
from fec.bench.measure import Measurement, MeasureSettings, measure

__all__ = ["BenchError", "Measurement", "MeasureSettings", "measure"]
