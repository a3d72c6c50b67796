"""fec-bench end to end on a tiny checkpoint: real faces through the torch backend; bad input exits 2 with one line."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from fec.cli.bench import main

FAST = ["--warmup", "1", "--iters", "3", "--max-windows", "2", "--quiet"]


def invoke(args):
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def torch_report(tiny_checkpoint, tiny_synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_cli")
    result = invoke([tiny_checkpoint, "--backend", "torch", "--batch", "1,2", "--data", tiny_synth / "test.csv",
                     "--json", out / "bench.json", "--csv", out / "bench.csv", "--plot", out / "bench.png", *FAST])
    return result, out


def test_torch_smoke_run_reports_sane_numbers(torch_report):
    result, out = torch_report
    assert result.exit_code == 0, result.output
    report = json.loads((out / "bench.json").read_text())
    rows = report["rows"]

    assert report["format"] == "fec-bench/1" and report["settings"]["inputs"] == "faces"
    assert [(row["backend"], row["precision"], row["batch"], row["inputs"]) for row in rows] == [
        ("torch", "fp32", 1, "faces"), ("torch", "fp32", 2, "faces")]
    for row in rows:
        assert row["iterations"] == 6 and row["windows"] == 2
        assert 0 < row["min_ms"] <= row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert row["min_ms"] <= row["mean_ms"] <= row["max_ms"]
        # throughput = batch x iterations / wall time, and wall time >= the sum of the latencies
        assert 0 < row["throughput"] <= row["batch"] * 1000 / row["mean_ms"] + 0.051  # + rounding to 0.1
        assert row["peak_rss_mb"] > 50 and row["cv"] >= 0
    assert (out / "bench.png").read_bytes()[:4] == b"\x89PNG"
    csv_rows = list(csv.DictReader((out / "bench.csv").open()))
    assert [float(row["p50_ms"]) for row in csv_rows] == [row["p50_ms"] for row in rows]
    assert "p50_ms" in result.output and "torch" in result.output


def test_compare_subcommand_prints_ratios(torch_report):
    _, out = torch_report
    result = invoke(["compare", out / "bench.json", out / "bench.json"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:2] == ["backend", "mode"]
    assert len(lines) == 3 and all(line.split()[1] == "compute" and line.split()[6] == "1.000" for line in lines[1:])


@pytest.mark.parametrize("args, message", [
    (["missing.pt", "--inputs", "random"], "missing.pt: target not found"),
    (["{checkpoint}", "--backend", "nope", "--inputs", "random"], "unknown backend 'nope'"),
    (["{checkpoint}", "--backend", "onnxruntime", "--inputs", "random"], "backend 'onnxruntime' cannot run checkpoints"),
    (["{checkpoint}"], "--inputs faces needs --data"),
    (["compare", "missing.json", "missing.json"], "missing.json: benchmark report not found"),
    (["http://127.0.0.1:9/fecnet", "--mode", "end-to-end", "--data", "test.csv"],
     "http://127.0.0.1:9/fecnet: --mode end-to-end does not apply to Triton server targets"),
    (["{checkpoint}", "--mode", "end-to-end", "--inputs", "random"],
     "--mode end-to-end starts from the JPEG bytes of real face crops: give --data"),
    (["{checkpoint}", "--inputs", "random", "--duration", "inf"], "duration must be in (0, 3600] seconds, got inf"),
])
def test_bad_input_is_one_line_and_exit_2(tiny_checkpoint, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [arg.format(checkpoint=tiny_checkpoint) for arg in args])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


@pytest.fixture
def no_gpu(monkeypatch):
    """This machine as a CPU-only one, whatever it really has."""
    from fec.runtimes import backends

    monkeypatch.setitem(backends.UNAVAILABLE, "cuda", lambda: "no CUDA GPU here (torch.cuda.is_available() is False)")


def test_a_backend_that_cannot_run_here_is_a_one_line_error(tiny_checkpoint, no_gpu):
    result = CliRunner().invoke(main, [str(tiny_checkpoint), "--backend", "torch-cuda", "--inputs", "random"])
    assert result.exit_code == 2
    assert result.output.strip() == ("error: backend 'torch-cuda' cannot run here: no CUDA GPU here "
                                     "(torch.cuda.is_available() is False)")


def test_keep_going_measures_what_runs_records_what_cannot_and_exits_1(tiny_checkpoint, no_gpu, tmp_path):
    result = CliRunner().invoke(main, [str(tiny_checkpoint), "--backend", "torch-cuda,torch", "--inputs", "random",
                                       "--batch", "2", "--keep-going", "--json", str(tmp_path / "b.json"), *FAST])
    report = json.loads((tmp_path / "b.json").read_text())

    assert result.exit_code == 1
    assert [(row["backend"], row["batch"], row["cuda_peak_mb"]) for row in report["rows"]] == [("torch", 2, None)]
    assert report["failures"] == [{"target": str(tiny_checkpoint), "backend": "torch-cuda",
                                   "error": "backend 'torch-cuda' cannot run here: no CUDA GPU here "
                                            "(torch.cuda.is_available() is False)"}]
    assert f"failed: torch-cuda ({tiny_checkpoint}): backend 'torch-cuda' cannot run here" in result.output


def test_concurrency_is_for_server_targets_only(tiny_checkpoint):
    result = CliRunner().invoke(main, [str(tiny_checkpoint), "--backend", "torch", "--inputs", "random",
                                       "--concurrency", "2"])
    assert result.exit_code == 2
    assert "error: --concurrency 2 applies to Triton server targets; torch run one request at a time" in result.output


def test_backends_lists_every_backend_with_whether_it_runs_here(no_gpu):
    listing = CliRunner().invoke(main, ["backends"]).output.splitlines()
    available = CliRunner().invoke(main, ["backends", "--available", "--kind", "checkpoint"]).output.strip()

    names = [line.split()[0] for line in listing]
    assert names[:3] == ["torch", "torch_compile", "torch-cuda"] and "tensorrt-graphs" in names and "triton-grpc" in names
    assert "[runs here: no: no CUDA GPU here" in listing[2] and listing[0].endswith("[runs here: yes]")
    assert available == "torch,torch_compile"


def test_merge_combines_rows_and_failures_of_several_reports(torch_report, tmp_path):
    _, out = torch_report
    failed = {"format": "fec-bench/1", "settings": {"iters": 5}, "rows": [],
              "failures": [{"target": "m.pt", "backend": "torch-cuda", "error": "no CUDA GPU here"}]}
    (tmp_path / "failed.json").write_text(json.dumps(failed))
    result = invoke(["merge", out / "bench.json", tmp_path / "failed.json", "--json", tmp_path / "all.json",
                     "--csv", tmp_path / "all.csv", "--plot", tmp_path / "all.png"])
    merged = json.loads((tmp_path / "all.json").read_text())
    original = json.loads((out / "bench.json").read_text())

    assert result.exit_code == 0 and "failed: torch-cuda (m.pt): no CUDA GPU here" in result.output
    assert merged["rows"] == original["rows"] and merged["failures"] == failed["failures"]
    assert merged["settings"]["merged_from"][str(tmp_path / "failed.json")] == {"iters": 5}
    assert len(list(csv.DictReader((tmp_path / "all.csv").open()))) == 2
    assert (tmp_path / "all.png").read_bytes()[:4] == b"\x89PNG"


def test_floor_puts_each_row_against_flops_over_peak(torch_report, tiny_checkpoint, tmp_path):
    from fec.bench.floor import config_flops, model_config_of

    _, out = torch_report
    result = invoke(["floor", out / "bench.json", "--threads", "1", "--json", tmp_path / "floor.json"])
    assert result.exit_code == 0, result.output
    floors = json.loads((tmp_path / "floor.json").read_text())
    rows, peak = floors["rows"], floors["peak"]
    flops = config_flops(model_config_of(str(tiny_checkpoint)))

    assert peak["cores"] == 1 and peak["measured_gflops"] > 0 and [r["batch"] for r in rows] == [1, 2]
    for row in rows:
        expected = flops * row["batch"] / (peak["nominal_gflops"] * 1e9) * 1e3
        assert row["mflops_per_image"] == round(flops / 1e6, 2)
        assert row["floor_ms_nominal"] == pytest.approx(expected, abs=1e-3)
        assert row["x_nominal_floor"] == pytest.approx(row["p50_ms"] / expected, rel=0.01)
    assert "GFLOP/s nominal" in result.output and "x GEMM floor" in result.output


def test_floor_of_a_file_that_is_no_report_is_one_line(tmp_path):
    bogus = tmp_path / "bench.json"
    bogus.write_text("{}")
    result = invoke(["floor", bogus])
    assert result.exit_code == 2 and "not an fec-bench report" in result.output


@pytest.mark.parametrize("field", ["failures", "settings"])
@pytest.mark.parametrize("command", ["merge", "floor"])
def test_a_report_edited_into_the_wrong_shape_is_one_line(torch_report, tmp_path, field, command):
    _, out = torch_report
    edited = json.loads((out / "bench.json").read_text())
    edited[field] = "x"
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    args = [out / "bench.json", tmp_path / "edited.json", "--json", tmp_path / "m.json"] if command == "merge" else [
        tmp_path / "edited.json"]
    result = invoke([command, *args])
    assert result.exit_code == 2 and len(result.output.splitlines()) == 1, result.output
    assert result.output.startswith(f"error: {tmp_path / 'edited.json'}: 'settings' is not a mapping or 'failures' not")


@pytest.fixture(scope="module")
def both_modes(tiny_checkpoint, tiny_synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_modes")
    result = invoke([tiny_checkpoint, "--backend", "torch", "--batch", "1,2", "--mode", "both", "--data",
                     tiny_synth / "test.csv", "--json", out / "bench.json", "--csv", out / "bench.csv", *FAST])
    return result, out


def test_both_modes_give_a_compute_and_an_end_to_end_row_per_batch_in_table_json_and_csv(both_modes):
    result, out = both_modes
    assert result.exit_code == 0, result.output
    report = json.loads((out / "bench.json").read_text())
    csv_rows = list(csv.DictReader((out / "bench.csv").open()))
    table = [line.split() for line in result.output.splitlines() if not line.startswith(("warning:", "note:"))]

    expected = [("torch", "compute", 1), ("torch", "end-to-end", 1), ("torch", "compute", 2), ("torch", "end-to-end", 2)]
    assert [(row["backend"], row["mode"], row["batch"]) for row in report["rows"]] == expected
    assert [(row["backend"], row["mode"], int(row["batch"])) for row in csv_rows] == expected
    assert table[0][:3] == ["backend", "mode", "precision"]
    assert [(line[0], line[1], int(line[3])) for line in table[1:]] == expected
    assert [float(row["p50_ms"]) for row in csv_rows] == [row["p50_ms"] for row in report["rows"]]
    assert [float(line[6]) for line in table[1:]] == [row["p50_ms"] for row in report["rows"]]
    assert report["settings"]["mode"] == "both" and report["notes"] == []
    for row in report["rows"]:
        assert row["iterations"] == 6 and row["inputs"] == "faces"
        assert 0 < row["min_ms"] <= row["p50_ms"] <= row["max_ms"]


def test_merge_and_compare_read_reports_written_before_modes_as_compute(both_modes, tmp_path):
    _, out = both_modes
    report = json.loads((out / "bench.json").read_text())
    old = {**report, "rows": [{key: value for key, value in row.items() if key != "mode"}
                              for row in report["rows"] if row["mode"] == "compute"]}
    (tmp_path / "old.json").write_text(json.dumps(old))

    merged = invoke(["merge", tmp_path / "old.json", out / "bench.json", "--json", tmp_path / "all.json"])
    compared = invoke(["compare", tmp_path / "old.json", out / "bench.json"])

    assert merged.exit_code == 0 and compared.exit_code == 0, merged.output + compared.output
    rows = json.loads((tmp_path / "all.json").read_text())["rows"]
    assert [row["mode"] for row in rows] == ["compute"] * 2 + ["compute", "end-to-end"] * 2
    lines = [line.split() for line in compared.output.splitlines()[1:]]
    assert [(line[0], line[1], line[3], line[6]) for line in lines] == [("torch", "compute", "1", "1.000"),
                                                                         ("torch", "compute", "2", "1.000")]


def test_floor_of_a_report_whose_target_is_gone_is_one_line(torch_report, tmp_path):
    _, out = torch_report
    report = json.loads((out / "bench.json").read_text())
    report["rows"][0]["target"] = str(tmp_path / "moved.pt")
    (tmp_path / "bench.json").write_text(json.dumps(report))
    result = invoke(["floor", tmp_path / "bench.json"])
    assert result.exit_code == 2 and "moved.pt: this report's target is gone" in result.output
