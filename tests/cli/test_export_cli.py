"""fec-export on the command line: where it writes, what it prints, and one clear line per bad input."""

from __future__ import annotations

import sys

import onnx
import torch
from export_fixtures import run_cli
from onnx import TensorProto, helper

from fec.cli.export import main


def one_error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0][len("error: "):]


def test_default_folder_is_under_export_and_the_next_command_is_printed(onnx_exports, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli(main, [onnx_exports["fp32"] / "model.onnx", "--format", "onnx", "--precision", "fp16"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"wrote export/resnet18-onnx-fp16: model.onnx "
        f"({(tmp_path / 'export/resnet18-onnx-fp16/model.onnx').stat().st_size / 1e6:.1f} MB); fp16",
        "verify it: fec-verify export/resnet18-onnx-fp16 --data TEST.csv"]
    assert sorted(path.name for path in (tmp_path / "export").iterdir()) == ["resnet18-onnx-fp16"]


def test_trt_without_tensorrt_says_how_to_install_it_before_reading_anything(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    message = one_error_line(run_cli(main, [tmp_path / "missing.pt", "--format", "trt", "--out", tmp_path / "x"]))

    assert message.startswith("TensorRT is not installed, so --format trt cannot run; install NVIDIA's TensorRT")
    assert "pip install tensorrt" in message and message.endswith("--format onnx works without it")
    assert not (tmp_path / "x").exists()


def test_a_corrupt_or_foreign_checkpoint_or_onnx_file_is_one_line(tmp_path):
    (tmp_path / "corrupt.pt").write_bytes(b"\x80\x04garbage")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "other",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(tmp_path / "foreign.onnx"))

    def export(name):
        return one_error_line(run_cli(main, [tmp_path / name, "--format", "onnx", "--out", tmp_path / "out"]))

    assert export("corrupt.pt").startswith(f"{tmp_path / 'corrupt.pt'}: not a readable checkpoint (")
    assert export("foreign.pt") == (f"{tmp_path / 'foreign.pt'}: not an fec checkpoint (no 'fec-checkpoint/1' tag); "
                                    "train one with fec-train")
    assert export("foreign.onnx") == (f"{tmp_path / 'foreign.onnx'}: not an fec ONNX export (no 'fec-onnx/1' metadata); "
                                      "export one from a checkpoint with fec-export")
    assert not (tmp_path / "out").exists()


def test_bad_int8_and_batch_options_are_one_line(onnx_exports, trained, tmp_path):
    source = onnx_exports["fp32"] / "model.onnx"

    def export(*options):
        return one_error_line(run_cli(main, [source, "--format", "onnx", "--out", tmp_path / "out", *options]))

    assert export("--precision", "int8") == ("INT8 needs real face crops to calibrate on: pass --calib-data TRAIN.csv "
                                             "(an FEC-format triplet CSV)")
    assert export("--precision", "int8", "--calib-data", trained.train_csv, "--calib-size", "8") == (
        "--calib-size 8 is too small: INT8 calibration needs at least 32 faces")
    too_few = export("--precision", "int8", "--calib-data", trained.train_csv, "--calib-size", "100000")
    assert too_few.startswith(f"{trained.train_csv}: calibration set too small: ")
    assert "distinct faces, --calib-size asks for 100000; use a larger FEC-format CSV or a --calib-size between 32 and" in too_few
    assert export("--max-batch", "8", "--opt-batch", "16") == "--opt-batch must be between 1 and --max-batch (8), got 16"
    assert export("--max-batch", "100000") == "--max-batch must be in [1, 4096], got 100000"
    assert not (tmp_path / "out").exists()
