"""Reports: the table, JSON and CSV carry the same numbers; compare() divides the right rows; the plot is a PNG."""

from __future__ import annotations

import csv
import json

import pytest

from fec.bench import BenchError, MeasureSettings, measure
from fec.bench.report import (
    COLUMNS,
    BenchRow,
    compare,
    csv_text,
    format_comparison,
    format_table,
    read_report_file,
    write_csv,
    write_plot,
    write_report_json,
)


def make_row(fake_clock, delayed, backend: str, batch: int, delays_ms, precision: str = "fp32",
             cuda_peak_mb: float | None = None) -> BenchRow:
    result = measure(delayed(delays_ms), batch, MeasureSettings(warmup_iters=0, iters=len(delays_ms) // 2),
                     clock=fake_clock)
    return BenchRow("model.pt", backend, precision, batch, result, peak_rss_mb=512.34567, cuda_peak_mb=cuda_peak_mb)


@pytest.fixture
def records(fake_clock, delayed) -> list[dict]:
    rows = [make_row(fake_clock, delayed, "torch", 1, [1.2345, 2.5, 3.75, 1.2345, 2.5, 3.75]),
            make_row(fake_clock, delayed, "torch-cuda", 8, [7.0, 9.0] * 2, cuda_peak_mb=87.654321),
            make_row(fake_clock, delayed, "onnxruntime", 8, [3.0, 3.3333] * 2)]
    return [row.record() for row in rows]


def number(text):
    """A table/CSV/JSON cell as a number, or None where the value is not known ('-', '' or null)."""
    return None if text in ("-", "", None) else float(text)


def parse_table(text: str) -> list[dict]:
    lines = [line.split() for line in text.splitlines() if not line.startswith("warning:")]
    return [dict(zip(lines[0], line)) for line in lines[1:]]


def test_table_json_and_csv_carry_identical_numbers(records, tmp_path):
    write_report_json(tmp_path / "bench.json", records)
    write_csv(tmp_path / "bench.csv", records)
    from_json = json.loads((tmp_path / "bench.json").read_text())["rows"]
    from_csv = list(csv.DictReader((tmp_path / "bench.csv").open()))
    from_table = parse_table(format_table(records))

    assert len(from_json) == len(from_csv) == len(from_table) == 3
    numeric = [column for column in COLUMNS if column not in ("backend", "mode", "precision", "stable")]
    for expected, json_row, csv_row, table_row in zip(records, from_json, from_csv, from_table):
        for column in numeric:
            assert number(json_row[column]) == number(csv_row[column]) == number(table_row[column]) == expected[column]
        assert json_row["backend"] == csv_row["backend"] == table_row["backend"]
        assert json_row["mode"] == csv_row["mode"] == table_row["mode"] == "compute"
    # CUDA memory: a value on the CUDA row, unknown (null / empty / '-') on the CPU rows
    assert [row["cuda_peak_mb"] for row in from_json] == [None, 87.7, None]
    assert [row["cuda_peak_mb"] for row in from_csv] == ["", "87.7", ""]
    assert [row["cuda_peak_mb"] for row in from_table] == ["-", "87.7", "-"]


def test_records_are_rounded_once(records):
    first = records[0]
    assert first["mean_ms"] == round((1.2345 + 2.5 + 3.75) / 3, 3) and first["peak_rss_mb"] == 512.3
    assert first["iterations"] == 6 and first["batch"] == 1
    assert records[1]["throughput"] == round(8 * 4 / 0.032, 1)


def test_warnings_follow_the_table(records):
    text = format_table(records)
    assert "warning: torch-cuda fp32 batch 8: latency varies a lot" in text  # 7/9 ms: CV 12.5%
    assert "warning: torch fp32 batch 1" in text


def write_report(path, fake_clock, delayed, p50s: dict) -> None:
    rows = [make_row(fake_clock, delayed, backend, batch, [p50] * 4) for (backend, batch), p50 in p50s.items()]
    write_report_json(path, [row.record() for row in rows])


def test_compare_ratios_per_backend_and_batch(fake_clock, delayed, tmp_path):
    write_report(tmp_path / "a.json", fake_clock, delayed, {("torch", 1): 10.0, ("torch", 8): 40.0, ("onnxruntime", 1): 5.0})
    write_report(tmp_path / "b.json", fake_clock, delayed, {("torch", 1): 5.0, ("torch", 8): 60.0, ("torch", 32): 1.0})

    comparisons = {(item.backend, item.batch): item for item in compare(tmp_path / "a.json", tmp_path / "b.json")}

    assert set(comparisons) == {("torch", 1), ("torch", 8)}     # only rows present in both
    assert comparisons[("torch", 1)].latency_ratio == pytest.approx(0.5)
    assert comparisons[("torch", 1)].throughput_ratio == pytest.approx(2.0)
    assert comparisons[("torch", 8)].latency_ratio == pytest.approx(1.5)
    assert comparisons[("torch", 8)].throughput_ratio == pytest.approx(40 / 60, rel=1e-3)
    assert "0.500" in format_comparison(list(comparisons.values()))


def test_compare_rejects_foreign_and_missing_files(tmp_path):
    (tmp_path / "other.json").write_text('{"rows": []}')
    with pytest.raises(BenchError, match="not an fec-bench report"):
        compare(tmp_path / "other.json", tmp_path / "other.json")
    with pytest.raises(BenchError, match="not found"):
        compare(tmp_path / "missing.json", tmp_path / "other.json")


def test_plot_is_written_atomically_as_png(records, tmp_path):
    write_plot(tmp_path / "plots" / "bench.png", records)
    assert (tmp_path / "plots" / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [path.name for path in (tmp_path / "plots").iterdir()] == ["bench.png"]


def test_csv_leaves_missing_warnings_empty(records):
    rows = list(csv.DictReader(csv_text(records).splitlines()))
    assert rows[2]["warning"] == "" and rows[2]["backend"] == "onnxruntime"


def test_plot_draws_one_line_per_backend_and_target(records):
    from fec.bench.report import _series

    assert {label: [row["batch"] for row in rows] for label, rows in _series(records).items()} == {
        "torch fp32": [1], "torch-cuda fp32": [8], "onnxruntime fp32": [8]}
    other = [{**records[0], "target": "other.pt"}]
    assert set(_series(records + other)) == {"torch fp32 (model.pt)", "torch-cuda fp32 (model.pt)",
                                             "onnxruntime fp32 (model.pt)", "torch fp32 (other.pt)"}


def test_mode_sits_next_to_backend_and_is_identical_in_every_format(fake_clock, delayed, tmp_path):
    rows = [BenchRow("model.pt", "torch", "fp32", 8, measure(delayed([2.0] * 4), 8, MeasureSettings(warmup_iters=0, iters=2),
                                                               clock=fake_clock), 100.0, mode=mode)
            for mode in ("compute", "end-to-end")]
    records = [row.record() for row in rows]
    write_report_json(tmp_path / "bench.json", records)
    from_json = json.loads((tmp_path / "bench.json").read_text())["rows"]
    from_csv = list(csv.DictReader(csv_text(records).splitlines()))
    from_table = parse_table(format_table(records))

    assert COLUMNS[:2] == ("backend", "mode")
    assert [row["mode"] for row in from_json] == [row["mode"] for row in from_csv] == \
        [row["mode"] for row in from_table] == ["compute", "end-to-end"]


def test_compare_matches_rows_by_mode_too(fake_clock, delayed, tmp_path):
    def row(mode, p50):
        result = measure(delayed([p50] * 4), 1, MeasureSettings(warmup_iters=0, iters=2), clock=fake_clock)
        return BenchRow("model.pt", "torch", "fp32", 1, result, 100.0, mode=mode).record()

    write_report_json(tmp_path / "a.json", [row("compute", 10.0), row("end-to-end", 20.0)])
    write_report_json(tmp_path / "b.json", [row("compute", 5.0), row("end-to-end", 30.0)])
    ratios = {item.mode: item.latency_ratio for item in compare(tmp_path / "a.json", tmp_path / "b.json")}

    assert ratios == {"compute": pytest.approx(0.5), "end-to-end": pytest.approx(1.5)}


def test_warnings_and_plot_lines_name_the_end_to_end_mode(records):
    from fec.bench.report import _series

    end_to_end = {**records[1], "mode": "end-to-end"}
    assert "warning: torch-cuda end-to-end fp32 batch 8: latency varies a lot" in format_table([end_to_end])
    assert set(_series([records[1], end_to_end])) == {"torch-cuda fp32", "torch-cuda end-to-end fp32"}
    assert format_table(records, notes=["x skipped"]).endswith("\nnote: x skipped")


@pytest.mark.parametrize("rows, message", [
    ({"backend": "torch"}, "'rows' is not a list"),
    ([7], "row 1: not a mapping"),
    ([{"backend": "torch", "precision": "fp32", "batch": 1, "p50_ms": 1.0}], "row 1: throughput None is not a number"),
    ([{"backend": "torch", "precision": "fp32", "batch": 1, "p50_ms": "1.0", "throughput": 9.0}],
     "row 1: p50_ms '1.0' is not a number"),
    ([{"backend": "torch", "precision": "fp32", "batch": 0.5, "p50_ms": 1.0, "throughput": 9.0}],
     "row 1: batch 0.5 is not a number"),
    ([{"backend": 3, "precision": "fp32", "batch": 1, "p50_ms": 1.0, "throughput": 9.0}], "row 1: backend 3 is not a text"),
])
def test_a_report_with_rows_fec_bench_never_writes_is_one_line(tmp_path, rows, message):
    path = tmp_path / "edited.json"
    path.write_text(json.dumps({"format": "fec-bench/1", "rows": rows}))
    with pytest.raises(BenchError) as error:
        read_report_file(path)
    assert str(error.value).startswith(f"{path}: {message}")
    assert str(error.value).endswith("write the report again with fec-bench --json")
