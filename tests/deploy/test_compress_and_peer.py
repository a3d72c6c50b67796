"""fec-deploy beyond post-training: the peer row (NNCF's default int8 on OpenVINO's default hints, verified and
timed in the same run, never chosen) and --compress (students distilled at a smaller input, verified against the
ORIGINAL checkpoint's accuracy, resumable after a kill)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fec.cli.deploy import main
from fec.deploy.select import PEER_VERDICT, Measured

pytest.importorskip("openvino", reason="OpenVINO is an optional extra (pip install openvino)")
pytest.importorskip("nncf", reason="NNCF is an optional extra (pip install nncf)")

QUICK = ["--batch", "1,4", "--threads", "1", "--warmup", "1", "--iters", "3", "--max-windows", "2", "--passes", "1",
         "--calib-size", "32", "--precision", "fp32,int8", "--backend", "torch,onnxruntime", "--quantizer", "nncf",
         "--mode", "compute", "--no-triton", "--quiet"]


@pytest.fixture(scope="module")
def compressed(small_checkpoint, small_synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("compress") / "out"
    result = CliRunner().invoke(main, [str(small_checkpoint), "--data", str(small_synth / "test.csv"), "--out", str(out),
                                       *QUICK, "--compress", "--compress-steps", "4"], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output  # 1: no choice within the budget (a 3-step model)
    return out, json.loads((out / "decision.json").read_text()), result.output


def test_the_peer_is_verified_and_timed_but_never_chosen(compressed):
    _, decision, output = compressed
    measured = {entry["name"]: Measured.from_dict(entry) for entry in decision["candidates"]}
    peer = measured["openvino-defaults/onnx-int8-nncf-default"]
    assert peer.peer and peer.status == "ok" and peer.delta_pt is not None and sorted(peer.timings) == [1, 4]
    assert all(item["verdicts"][peer.name] == PEER_VERDICT for item in decision["per_batch"])
    summary = decision["peer"]
    assert (summary["name"], summary["delta_pt"]) == (peer.name, peer.delta_pt)
    for item in decision["per_batch"]:
        if item["chosen"]:
            chosen = measured[item["chosen"]].timing(item["batch"], "compute").p50_ms
            expected = round(peer.timing(item["batch"], "compute").p50_ms / chosen, 2)
            assert summary["choice_speedup"][str(item["batch"])] == expected
            assert f"{expected:.2f}x the peer ({peer.name})" in output


def test_students_are_candidates_judged_against_the_original(compressed):
    out, decision, _ = compressed
    student, = decision["students"]
    assert (student["name"], student["input_size"], student["steps"], student["reused"]) == ("s48", 48, 4, False)
    names = [entry["name"] for entry in decision["candidates"]]
    assert {"onnxruntime/s48-onnx-fp32", "onnxruntime/s48-onnx-int8-nncf"} <= set(names)
    assert (out / "exports" / "s48-onnx-fp32" / "model.onnx").is_file()
    from fec.models.checkpoint import read_checkpoint

    record = read_checkpoint(student["checkpoint"])["distilled_from"]
    assert (record["input_size"], record["steps"], record["max_steps"]) == (48, 4, 4)
    fp32 = next(entry for entry in decision["candidates"] if entry["name"] == "onnxruntime/s48-onnx-fp32")
    # the student's fp32 export equals its own PyTorch (0 pt), so its change is the student's own against the original
    assert fp32["delta_pt"] == pytest.approx(student["delta_pt_pytorch"], abs=0.01)


def test_a_killed_distillation_resumes_from_its_last_saved_step(small_checkpoint, small_synth, tmp_path, monkeypatch):
    from fec.deploy import compress
    from fec.deploy.options import CompressOptions

    options = CompressOptions(max_steps=6, save_every=2, batch_size=8)
    real_step, taken = compress.train_step, []

    def killed_at_five(*args):
        if len(taken) == 5:
            raise KeyboardInterrupt
        taken.append(1)
        return real_step(*args)

    monkeypatch.setattr(compress, "train_step", killed_at_five)
    with pytest.raises(KeyboardInterrupt):
        compress.distil_students(small_checkpoint, small_synth / "train.csv", tmp_path, options)
    assert (tmp_path / "s48" / compress.STATE_NAME).is_file() and not (tmp_path / "s48" / compress.STUDENT_NAME).exists()
    monkeypatch.setattr(compress, "train_step", real_step)
    student, = compress.distil_students(small_checkpoint, small_synth / "train.csv", tmp_path, options)
    assert (student.resumed_at, student.steps) == (4, 6)
    assert not (tmp_path / "s48" / compress.STATE_NAME).exists()
    again, = compress.distil_students(small_checkpoint, small_synth / "train.csv", tmp_path, options)
    assert again.notes == ["reused"] and again.steps == 6
