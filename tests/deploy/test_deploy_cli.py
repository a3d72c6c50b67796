"""fec-deploy end to end on a small checkpoint: candidates made, verified, timed, chosen, reported, packaged;
a rerun reuses what did not change. Assertions are on files, exit codes and the rule the choice follows,
never on which runtime is faster (that is this machine's measurement, not a fact to test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fec.cli.deploy import main
from fec.deploy.select import Measured, choose_per_batch

pytest.importorskip("openvino", reason="OpenVINO is an optional extra (pip install openvino)")

QUICK = ["--batch", "1,4", "--threads", "1", "--warmup", "1", "--iters", "3", "--max-windows", "2",
         "--float-below", "16", "--calib-size", "32",
         "--precision", "fp32,int8", "--backend", "torch,onnxruntime,openvino", "--serve-with", "python",
         "--quantizer", "onnxruntime", "--no-peer"]
TRIED = ["torch/checkpoint", "onnxruntime/onnx-fp32", "onnxruntime/onnx-int8-cpu-fb16", "openvino/onnx-fp32",
         "openvino/onnx-int8-cpu-fb16"]


def deploy(*args) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def first_run(small_checkpoint, small_synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("deploy") / "out"
    code, stdout, stderr = deploy(small_checkpoint, "--data", small_synth / "test.csv", "--out", out, *QUICK)
    return out, code, stdout, stderr


def test_every_candidate_is_verified_timed_and_judged(first_run):
    out, code, stdout, _ = first_run
    assert code == 0, stdout
    decision = json.loads((out / "decision.json").read_text())
    measured = [Measured.from_dict(entry) for entry in decision["candidates"]]
    assert [candidate.name for candidate in measured] == TRIED
    for candidate in measured:
        assert candidate.status == "ok", candidate.reason
        assert sorted(candidate.timings) == [1, 4] and set(candidate.timings[4]) == {"compute", "end-to-end"}
        assert candidate.delta_pt is not None and 0.9 <= candidate.min_cos <= 1.0 + 1e-6
    assert measured[0].delta_pt == 0.0 and measured[0].flips == 0.0  # PyTorch is the reference itself
    assert decision["hardware"]["gemm_gflops"]["fp32"] > 0 and decision["settings"]["max_drop_pt"] == 0.5
    assert set(decision["reference_accuracy"]) >= {"overall"}


def test_the_choice_is_the_fastest_within_the_budget_at_each_batch(first_run):
    out, _, stdout, _ = first_run
    decision = json.loads((out / "decision.json").read_text())
    measured = [Measured.from_dict(entry) for entry in decision["candidates"]]
    for recorded in decision["per_batch"]:
        rederived = choose_per_batch(measured, recorded["batch"], 0.5, "compute")
        assert recorded["chosen"] == rederived.chosen and rederived.chosen is not None
        fastest = min((c for c in measured if c.delta_pt >= -0.5), key=lambda c: c.timing(recorded["batch"], "compute").p50_ms)
        assert recorded["chosen"] == fastest.name
        assert f"- batch {recorded['batch']}: **{recorded['chosen']}**" in stdout


def test_reports_and_the_triton_repository_of_the_choice(first_run):
    out, _, stdout, _ = first_run
    decision = json.loads((out / "decision.json").read_text())
    served, at_largest = decision["served"], decision["per_batch"][-1]["chosen"]
    assert (out / "decision.png").read_bytes()[:4] == b"\x89PNG"
    table = (out / "decision.md").read_text()
    assert table == stdout.split("\n\n\n")[0] + "\n" or table.strip() in stdout
    assert all(f"| {name} |" in table for name in TRIED)
    expected = at_largest if at_largest != "torch/checkpoint" else served["candidate"]
    assert served["candidate"] == expected and served["embedding"] in ("ort-python", "ov-python")
    marker = json.loads((Path(served["repo"]) / ".fec-triton.json").read_text())
    assert marker["embedding_model"] == "fecnet_" + served["embedding"].replace("-", "_")
    assert sorted(path.name for path in (out / "exports").iterdir()) == ["onnx-fp32", "onnx-int8-cpu-fb16"]


def test_a_rerun_reuses_exports_and_verifications_but_times_again(first_run, small_checkpoint, small_synth):
    """... and --photos adds the photo model to the repository (where the detector is installed)."""
    import importlib.util

    out, _, _, _ = first_run
    onnx = out / "exports/onnx-fp32/model.onnx"
    made = onnx.stat().st_mtime_ns
    before = json.loads((out / "decision.json").read_text())
    photos = ["--photos"] if importlib.util.find_spec("facenet_pytorch") else []
    code, _, stderr = deploy(small_checkpoint, "--data", small_synth / "test.csv", "--out", out, *QUICK, *photos)
    after = json.loads((out / "decision.json").read_text())
    assert code == 0 and onnx.stat().st_mtime_ns == made
    assert (Path(after["served"]["repo"]) / "fecnet_photo" / "config.pbtxt").is_file() == bool(photos)
    assert "[verify]" not in stderr and "[time 5/5, pass 1/2] openvino/onnx-int8-cpu-fb16" in stderr
    assert "[time 1/5, pass 2/2] openvino/onnx-int8-cpu-fb16" in stderr  # the second pass runs backwards
    assert [c["delta_pt"] for c in after["candidates"]] == [c["delta_pt"] for c in before["candidates"]]
    assert after["created"] >= before["created"]


def test_a_changed_export_is_made_again(first_run, small_checkpoint, small_synth):
    """Its bytes no longer match its manifest: made again; fec-export is deterministic here, so the new file
    equals the old one and its verification (keyed by the files' sha256) is reused."""
    out, _, _, _ = first_run
    onnx = out / "exports/onnx-int8-cpu-fb16/model.onnx"
    original = onnx.read_bytes()
    onnx.write_bytes(original + b"\0")
    code, _, stderr = deploy(small_checkpoint, "--data", small_synth / "test.csv", "--out", out, *QUICK)
    assert code == 0 and onnx.read_bytes() == original
    assert "[export 1/2] onnx-fp32: reused" in stderr and "[export 2/2] onnx-int8-cpu-fb16: ready" in stderr
    assert "[verify]" not in stderr


@pytest.mark.parametrize("args, message", [
    (["missing.pt", "--data", "DATA"], "missing.pt: checkpoint not found"),
    (["CKPT", "--data", "DATA", "--mode", "compute", "--rank-by", "end-to-end"], "--rank-by end-to-end needs it measured"),
    (["CKPT", "--data", "DATA", "--backend", "bogus"], "--backend: unknown bogus"),
    (["CKPT", "--data", "DATA", "--precision", "fp8"], "--precision: choose from fp32, fp16, bf16, int8"),
    (["CKPT", "--data", "DATA", "--backend", "onnxruntime"], "the PyTorch reference (backend torch) must be among"),
    (["CKPT", "--data", "DATA", "--max-drop", "-1"], "--max-drop: give 0 or more accuracy points, got -1"),
    (["CKPT", "--data", "DATA", "--latency-budget", "0"], "--latency-budget: give a positive, finite number of ms"),
    (["CKPT", "--data", "DATA", "--latency-budget", "nan"], "--latency-budget: give a positive, finite number of ms"),
    (["CKPT", "--data", "DATA", "--latency-budget", "inf"], "--latency-budget: give a positive, finite number of ms"),
    (["CKPT", "--data", "DATA", "--compress", "--compress-sizes", "8"], "--compress-sizes: give sides in [16, 1024] pixels"),
    (["CKPT", "--data", "DATA", "--out", "DATA"], "exists and is not a folder; choose another"),
])
def test_bad_input_is_one_line_and_exit_2(small_checkpoint, small_synth, tmp_path, args, message):
    args = [{"CKPT": small_checkpoint, "DATA": small_synth / "test.csv"}.get(arg, arg) for arg in args]
    out = [] if "--out" in args else ["--out", tmp_path / "out"]
    code, _, stderr = deploy(*args, *out)
    assert code == 2 and stderr.startswith("error: ") and message in stderr and len(stderr.splitlines()) == 1
