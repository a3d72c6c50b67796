"""A checkpoint whose plain data was edited (no code in it) is refused in one line naming the file and what is
wrong, before anything is built from it: weights of other shapes or types, impossible model options, recorded
crops, a path to read, NaN weights, a compressed payload that expands far beyond its size."""

from __future__ import annotations

import zipfile

import pytest
import torch
from click.testing import CliRunner

from fec.cli import evaluate as eval_cli
from fec.models import create_model
from fec.models.checkpoint import save_checkpoint


def checkpoint_payload() -> dict:
    model = create_model("compact_cnn", standardize_input=True)
    return {"model": dict(model.config), "state_dict": model.state_dict(), "preprocessing": model.preprocessing.to_dict(),
            "config": {"face_size": 64, "face_margin": 0.0}}


def tampered(payload: dict, where: str, value) -> dict:
    section, _, key = where.partition(".")
    if key:
        payload[section] = {**payload[section], key: value}
    else:
        payload[section] = value
    return payload


def first_weight(payload: dict) -> str:
    return next(iter(payload["state_dict"]))


CASES = [
    ("state_dict", ["not", "a", "mapping"], "the state_dict entry is not a mapping of names to tensors"),
    ("model.embedding_dim", 1 << 45, "embedding_dim 35184372088832 is not a whole number in [1, 4096]"),
    ("model.embedding_dim", 0, "embedding_dim 0 is not a whole number in [1, 4096]"),
    ("model.standardize_input", "no", "standardize_input 'no' is not true or false"),
    ("model.dropout", float("nan"), "dropout nan is not a number in [0, 1)"),
    ("model.pretrained", "/etc/passwd", "the model entry names a pretrained weights file"),
    ("model.input_size", 4096, "the model entry's input size (4096 px) is not its preprocessing's"),
    ("config", "face_size=64", "config: the record of how faces were cropped is not a mapping"),
    ("config.face_size", 60000, "config: face_size 60000 is not a whole number of pixels in [16, 1024]"),
    ("config.face_margin", -0.6, "config: face_margin -0.6 is not a number in [0, 1]"),
]


def evaluate(path, data) -> tuple[int, str]:
    result = CliRunner().invoke(eval_cli.main, [str(path), "--data", str(data)])
    return result.exit_code, result.stderr.strip()


@pytest.mark.parametrize("where, value, message", CASES, ids=[f"{case[0]}={case[1]!r}"[:40] for case in CASES])
def test_an_edited_entry_is_one_line(tiny_synth, tmp_path, where, value, message):
    path = save_checkpoint(tmp_path / "edited.pt", tampered(checkpoint_payload(), where, value))
    code, stderr = evaluate(path, tiny_synth / "test.csv")
    assert code == 2 and stderr.startswith(f"error: {path}: ") and message in stderr and len(stderr.splitlines()) == 1


def test_weights_of_another_shape_or_with_nan_are_one_line(tiny_synth, tmp_path):
    payload = checkpoint_payload()
    name = first_weight(payload)
    payload["state_dict"][name] = torch.zeros(3)
    code, stderr = evaluate(save_checkpoint(tmp_path / "shape.pt", payload), tiny_synth / "test.csv")
    assert code == 2 and f"weights do not fit model 'compact_cnn' (size mismatch for {name}" in stderr

    payload = checkpoint_payload()
    payload["state_dict"][name] = torch.full_like(payload["state_dict"][name], float("nan"))
    code, stderr = evaluate(save_checkpoint(tmp_path / "nan.pt", payload), tiny_synth / "test.csv")
    assert code == 2 and f"weight {name!r} holds NaN or infinite values" in stderr


def test_a_compressed_payload_is_refused_unread(tiny_synth, tmp_path):
    """torch.save never compresses; a deflated entry of 64 MiB of zeros in a file of a few KiB is a zip bomb."""
    path = save_checkpoint(tmp_path / "bomb.pt", checkpoint_payload())
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/padding", bytes(64 << 20))
    code, stderr = evaluate(path, tiny_synth / "test.csv")
    assert code == 2 and stderr.startswith(f"error: {path}: refused: its entries expand to ")
    assert "compressed; fec never writes such a file" in stderr


def test_a_file_that_is_neither_zip_nor_pickle_is_named_so(tiny_synth, tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("epoch 3: loss 0.2\n")
    assert evaluate(path, tiny_synth / "test.csv") == (
        2, f"error: {path}: not a PyTorch checkpoint (neither torch's zip format nor a pickle)")


def test_changed_bytes_inside_the_archive_fail_its_checksum(tiny_synth, tmp_path):
    """torch.load does not check the zip's CRCs: without this check a flipped byte loads as a changed weight."""
    payload = checkpoint_payload()
    name = first_weight(payload)
    payload["state_dict"][name] = torch.full_like(payload["state_dict"][name], 1.2345)
    path = save_checkpoint(tmp_path / "flipped.pt", payload)
    data = bytearray(path.read_bytes())
    at = data.index(torch.tensor([1.2345] * 4).numpy().tobytes())
    data[at + 1] ^= 0xFF
    path.write_bytes(bytes(data))
    code, stderr = evaluate(path, tiny_synth / "test.csv")
    assert code == 2 and stderr.startswith(f"error: {path}: damaged: its entry ") and stderr.endswith(
        "fails its checksum; use an earlier checkpoint")


@pytest.mark.parametrize("missing, crops", [("face_margin", "64 px with margin 0"),
                                            ("face_size", "224 px with margin 0")])
def test_a_crop_setting_missing_from_the_config_is_one_warning_naming_it(tiny_synth, tmp_path, missing, crops):
    """It was filled with fec-train's default without a word: a model trained with margin 0.3 was scored on crops
    without one."""
    payload = checkpoint_payload()
    del payload["config"][missing]
    path = save_checkpoint(tmp_path / "partial.pt", payload)
    code, stderr = evaluate(path, tiny_synth / "test.csv")
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert code == 0 and warnings == [
        f"warning: {path}: config: no {missing} recorded; faces are cropped at {crops} (fec-train's defaults stand in), "
        "which may not be how the model was trained"]
