"""Benchmark results as a console table, JSON, CSV and a PNG plot (the same rounded numbers in all), a
comparison of two JSON reports, and the other text fec-bench prints (its backend list, FLOP floors).

Numbers are rounded once, in `BenchRow.record()`; every format writes those values, so the table,
the JSON and the CSV can be checked against each other. Each row says what its timed iteration covered
(`mode`): "compute" (inference on a prepared batch) or "end-to-end" (JPEG bytes decoded, preprocessed
and inferred); reports written before the field existed are read as "compute".
"""

from __future__ import annotations

import csv
import io
import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fec.artifacts import package_versions, utc_now
from fec.bench.errors import BenchError
from fec.bench.measure import Measurement
from fec.hardware import gpus, hardware_profile
from fec.io import atomic_open, atomic_path, read_json, write_json

if TYPE_CHECKING:
    from fec.bench.floor import MachinePeak  # imports torch: only for the annotations
    from fec.runtimes.backends import Backend

BENCH_REPORT_SCHEMA = "fec-bench/1"
COLUMNS = ("backend", "mode", "precision", "batch", "iterations", "mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "min_ms",
           "max_ms", "cv", "throughput", "stable", "peak_rss_mb", "cuda_peak_mb")
DECIMALS = {"mean_ms": 3, "p50_ms": 3, "p90_ms": 3, "p95_ms": 3, "p99_ms": 3, "min_ms": 3, "max_ms": 3, "cv": 4,
            "throughput": 1, "peak_rss_mb": 1, "cuda_peak_mb": 1}
EXTRA = ("target", "device", "inputs", "windows", "concurrency", "warning")
DEFAULT_MODE = "compute"               # the mode of rows from reports that predate the field


@dataclass(frozen=True)
class BenchRow:
    """One measured (target, backend, batch). `cuda_peak_mb` is None where it is not known (CPU, non-torch memory)."""

    target: str
    backend: str
    precision: str
    batch: int
    measurement: Measurement
    peak_rss_mb: float
    device: str = "cpu"
    inputs: str = "faces"
    cuda_peak_mb: float | None = None
    mode: str = DEFAULT_MODE          # compute | end-to-end: what one timed iteration covers

    def record(self) -> dict:
        """Flat, rounded values: what the table, JSON and CSV all carry."""
        values = {"backend": self.backend, "mode": self.mode, "precision": self.precision, "batch": self.batch,
                  **self.measurement.stats(), "peak_rss_mb": self.peak_rss_mb, "cuda_peak_mb": self.cuda_peak_mb}
        rounded = {key: _rounded(values[key], DECIMALS.get(key)) for key in COLUMNS}
        return {**rounded, "target": self.target, "device": self.device, "inputs": self.inputs,
                "windows": self.measurement.windows, "concurrency": self.measurement.concurrency,
                "warning": self.measurement.warning}


def _rounded(value, decimals: int | None):
    if decimals is None or value is None:
        return value
    return round(float(value), decimals)


def format_table(records: list[dict], failures: list[dict] = (), notes: list[str] = ()) -> str:
    """Aligned console table of `COLUMNS`, then one line per warning, per backend that failed and per note."""
    cells = [list(COLUMNS)] + [[_cell(record[key]) for key in COLUMNS] for record in records]
    widths = [max(len(row[column]) for row in cells) for column in range(len(COLUMNS))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in cells]
    lines += [f"warning: {_label(record)} batch {record['batch']}: {record['warning']}"
              for record in records if record.get("warning")]
    lines += [f"failed: {entry['backend']} ({entry['target']}): {entry['error']}" for entry in failures]
    lines += [f"note: {note}" for note in notes]
    return "\n".join(lines)


def _label(record: dict) -> str:
    """Backend and precision, with the mode when it is not the default (`torch end-to-end fp32`)."""
    mode = record.get("mode", DEFAULT_MODE)
    return " ".join([record["backend"], *([mode] if mode != DEFAULT_MODE else []), record["precision"]])


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def report_json(records: list[dict], settings: dict | None = None, failures: list[dict] = (),
                notes: list[str] = ()) -> dict:
    created = utc_now()
    host = {"machine": platform.machine(), "node": platform.node(), "processor": platform.processor(),
            "cpus": os.cpu_count(), "gpus": gpu_names(), "hardware": hardware_profile((settings or {}).get("threads"))}
    return {"format": BENCH_REPORT_SCHEMA, "created": created, "host": host, "versions": package_versions(),
            "settings": settings or {}, "rows": records, "failures": list(failures), "notes": list(notes)}


def gpu_names() -> list[str]:
    """CUDA GPUs visible to PyTorch, when PyTorch is already loaded (never imported just for this)."""
    return [gpu.name for gpu in gpus()]


def write_report_json(path: str | Path, records: list[dict], settings: dict | None = None,
                      failures: list[dict] = (), notes: list[str] = ()) -> None:
    write_json(path, report_json(records, settings, failures, notes))


@dataclass(frozen=True, kw_only=True)
class ReportFiles:
    """Where a report is written, in each format asked for (None: not written)."""

    json_path: Path | None = None
    csv_path: Path | None = None
    plot_path: Path | None = None

    def write(self, records: list[dict], settings: dict | None = None, failures: list[dict] = (),
              notes: list[str] = ()) -> None:
        if self.json_path:
            write_report_json(self.json_path, records, settings, failures, notes)
        if self.csv_path:
            write_csv(self.csv_path, records)
        if self.plot_path:
            write_plot(self.plot_path, records)


def write_csv(path: str | Path, records: list[dict]) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(csv_text(records))


def csv_text(records: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS) + list(EXTRA), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({key: "" if record.get(key) is None else record[key] for key in writer.fieldnames})
    return buffer.getvalue()


def write_plot(path: str | Path, records: list[dict]) -> None:
    """p50 latency and throughput against batch size, one line per backend/precision/mode (atomic PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency_axes, throughput_axes) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, series in _series(records).items():
        batches = [record["batch"] for record in series]
        latency_axes.plot(batches, [record["p50_ms"] for record in series], marker="o", label=label)
        throughput_axes.plot(batches, [record["throughput"] for record in series], marker="o", label=label)
    batches = sorted({record["batch"] for record in records})
    for axes, ylabel in ((latency_axes, "p50 latency (ms)"), (throughput_axes, "throughput (images/s)")):
        axes.set_xscale("log", base=2)
        axes.set_xticks(batches, [str(batch) for batch in batches])
        axes.set_xlabel("batch size")
        axes.set_ylabel(ylabel)
        axes.grid(True, alpha=0.3)
    latency_axes.legend(fontsize="small")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)


def _series(records: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped into lines: backend, precision and mode, plus the target's name when several were measured."""
    several_targets = len({record.get("target") for record in records}) > 1
    series: dict[str, list[dict]] = {}
    for record in records:
        label = _label(record)
        if several_targets:
            label += f" ({Path(record['target']).name})"
        series.setdefault(label, []).append(record)
    return {label: sorted(rows, key=lambda record: record["batch"]) for label, rows in series.items()}


# --------------------------------------------------------------------------- comparing two reports


@dataclass(frozen=True)
class Comparison:
    """B against A for one (backend, mode, precision, batch): ratios > 1 mean B is slower / has more throughput."""

    backend: str
    mode: str
    precision: str
    batch: int
    p50_a: float
    p50_b: float
    throughput_a: float
    throughput_b: float

    @property
    def latency_ratio(self) -> float:
        return self.p50_b / self.p50_a if self.p50_a else float("inf")

    @property
    def throughput_ratio(self) -> float:
        return self.throughput_b / self.throughput_a if self.throughput_a else float("inf")


def read_report(path: str | Path) -> list[dict]:
    return read_report_file(path)["rows"]


def read_report_file(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{path}: benchmark report not found")
    report = read_json(path, BenchError, "benchmark report")
    if not isinstance(report, dict) or report.get("format") != BENCH_REPORT_SCHEMA:
        raise BenchError(f"{path}: not an fec-bench report (no '{BENCH_REPORT_SCHEMA}' tag); write one with fec-bench --json")
    rows = report.get("rows", [])
    if not isinstance(rows, list):
        raise BenchError(f"{path}: 'rows' is not a list; write the report again with fec-bench --json")
    failures, settings = report.get("failures", []), report.get("settings", {})
    if not isinstance(settings, dict) or not isinstance(failures, list) or not all(
            isinstance(entry, dict) and {"backend", "target", "error"} <= set(entry) for entry in failures):
        raise BenchError(f"{path}: 'settings' is not a mapping or 'failures' not a list of backend, target and error; "
                         "write the report again with fec-bench --json")
    report["rows"] = [checked_row({**row, "mode": row.get("mode", DEFAULT_MODE)} if isinstance(row, dict) else row,
                                  f"{path}: row {number}") for number, row in enumerate(rows, 1)]
    return report


# What merge, compare and floor read of every row, with its type (a float may be written as an int).
ROW_FIELDS = {"backend": str, "mode": str, "precision": str, "batch": int, "p50_ms": float, "throughput": float}


def checked_row(row, where: str) -> dict:
    """`row` when it holds every ROW_FIELDS entry with its type (numbers finite, batch >= 1), else BenchError."""
    if not isinstance(row, dict):
        raise BenchError(f"{where}: not a mapping; write the report again with fec-bench --json")
    for name, kind in ROW_FIELDS.items():
        value = row.get(name)
        if kind is str:
            fits = isinstance(value, str)
        else:
            fits = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
                    and value >= (1 if kind is int else 0) and (kind is float or isinstance(value, int)))
        if not fits:
            raise BenchError(f"{where}: {name} {value!r} is not a {'text' if kind is str else 'number'} "
                             "fec-bench writes; write the report again with fec-bench --json")
    return row


def merge_reports(paths: list[str | Path]) -> tuple[list[dict], list[dict], dict]:
    """(rows, failures, settings by report) of several reports, in order: runs made with different settings,
    written out as one report."""
    reports = [read_report_file(path) for path in paths]
    rows = [row for report in reports for row in report["rows"]]
    failures = [entry for report in reports for entry in report.get("failures", [])]
    return rows, failures, {"merged_from": {str(path): report.get("settings", {}) for path, report in zip(paths, reports)}}


def compare(path_a: str | Path, path_b: str | Path) -> list[Comparison]:
    """Rows present in both reports, matched by (backend, mode, precision, batch)."""
    rows_a, rows_b = _keyed(path_a), _keyed(path_b)
    shared = [key for key in rows_a if key in rows_b]
    if not shared:
        raise BenchError(f"{path_a} and {path_b} share no (backend, mode, precision, batch) row")
    return [Comparison(*key, rows_a[key]["p50_ms"], rows_b[key]["p50_ms"], rows_a[key]["throughput"],
                       rows_b[key]["throughput"]) for key in shared]


def _keyed(path: str | Path) -> dict[tuple, dict]:
    keyed: dict[tuple, dict] = {}
    for record in read_report(path):
        key = (record["backend"], record["mode"], record["precision"], record["batch"])
        if key in keyed:
            raise BenchError(f"{path}: two rows for {_label(record)} batch {key[3]} (several targets); "
                             "compare reports of one target each")
        keyed[key] = record
    return keyed


def format_comparison(comparisons: list[Comparison]) -> str:
    header = ("backend", "mode", "precision", "batch", "p50_a_ms", "p50_b_ms", "latency_b/a", "thr_a", "thr_b", "throughput_b/a")
    cells = [list(header)] + [[item.backend, item.mode, item.precision, str(item.batch), str(item.p50_a), str(item.p50_b),
                               f"{item.latency_ratio:.3f}", str(item.throughput_a), str(item.throughput_b),
                               f"{item.throughput_ratio:.3f}"] for item in comparisons]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in cells)


# --------------------------------------------------------------------------- the backend list and FLOP floors


def format_backends(backends: list[Backend]) -> str:
    """One aligned line per backend: its name, the kind of target it runs, what it is, and whether it runs here."""
    widths = [max(len(getattr(backend, key)) for backend in backends) for key in ("name", "kind", "summary")]
    lines = []
    for backend in backends:
        reason = backend.unavailable()
        status = "yes" if reason is None else f"no: {reason}"
        lines.append(f"{backend.name:<{widths[0]}}  {backend.kind:<{widths[1]}}  {backend.summary:<{widths[2]}}  "
                     f"[runs here: {status}]")
    return "\n".join(lines)


def format_available(backends: list[Backend]) -> str:
    """The names of the backends that can run here, comma-separated (for scripts)."""
    return ",".join(backend.name for backend in backends if backend.unavailable() is None)


def report_threads(report: dict) -> int | None:
    """The --threads a report was measured with (None: all cores)."""
    return (report.get("settings") or {}).get("threads")


def format_floor(peak: MachinePeak, rows: list[dict]) -> str:
    """The machine's peaks, then each row against its FLOP floor."""
    header = ("target", "backend", "precision", "batch", "MFLOP/img", "p50 ms", "floor ms", "x floor", "x GEMM floor")
    keys = ("target", "backend", "precision", "batch", "mflops_per_image", "p50_ms", "floor_ms_nominal",
            "x_nominal_floor", "x_measured_floor")
    measured = ", ".join(f"{name} {rate:g}" for name, rate in peak.measured.items())
    lines = [f"{peak.cores} cores x {peak.ghz:.2f} GHz x {peak.vector_unit}: fp32 peak {peak.nominal_gflops:.0f} "
             f"GFLOP/s nominal (int8 x{peak.int8_factor:g}); measured GEMM GFLOP/s: {measured}",
             " | ".join(header)]
    for row in rows:
        lines.append(" | ".join(Path(str(row[k])).name if k == "target" else str(row[k]) for k in keys))
    lines += [f"note: {row['backend']} {row['precision']} batch {row['batch']} beats its measured floor "
              f"(x{row['x_measured_floor']}): the GEMM probe under-states this machine for that model"
              for row in rows if row.get("beats_measured_floor")]
    return "\n".join(lines)


def floor_report(peak: MachinePeak, rows: list[dict]) -> dict:
    """What `fec-bench floor --json` writes: the peaks and the rows."""
    return {"peak": peak.to_dict(), "rows": rows}
