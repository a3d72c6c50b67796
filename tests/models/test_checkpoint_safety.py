"""Checkpoints are untrusted: one whose pickle would run code is refused by every command, and no file appears.

The hostile file here is real: `torch.load(..., weights_only=False)` on it creates the marker file (the
first test proves that), exactly what `fec` used to do. Everything fec writes loads with
`weights_only=True`, and checkpoints of the earlier format (numpy RNG state) still load.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from fec.cli import bench as bench_cli
from fec.cli import embed as embed_cli
from fec.cli import evaluate as eval_cli
from fec.cli import export as export_cli
from fec.cli import train as train_cli
from fec.cli import verify as verify_cli
from fec.errors import CheckpointError
from fec.export.manifest import sha256_file
from fec.models.checkpoint import read_checkpoint
from fec.train.config import load_config
from fec.train.rng_state import restore_rng_states, rng_states
from fec.train.trainer import Trainer
from tests.helpers import tiny_overrides


class RunsAShellCommand:
    """Unpickling this runs `touch MARKER`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def hostile_checkpoint(path, marker):
    payload = {"format": "fec-checkpoint/1", "model": {"name": "compact_cnn"}, "preprocessing": {},
               "state_dict": {}, "step": 1, "config": RunsAShellCommand(marker)}
    torch.save(payload, path)
    return path


@pytest.fixture
def hostile(tmp_path):
    marker = tmp_path / "pwned"
    return hostile_checkpoint(tmp_path / "hostile.pt", marker), marker


def test_the_hostile_checkpoint_really_runs_code_when_unpickled(hostile):
    path, marker = hostile
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_reading_refuses_it_and_names_what_it_would_call(hostile):
    path, marker = hostile
    with pytest.raises(CheckpointError, match=r"refused: it holds a Python object \((posix|os|nt)\.system\)"):
        read_checkpoint(path)
    assert not marker.exists()


def one_line_refusal(result, marker):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "refused" in lines[0], result.stderr
    assert not marker.exists()


def export_naming(checkpoint, export, copy_to):
    """A copy of an export folder whose manifest names `checkpoint` as its source, with the right sha256."""
    shutil.copytree(export, copy_to)
    manifest = json.loads((copy_to / "manifest.json").read_text())
    manifest["source"].update(checkpoint=str(checkpoint), checkpoint_sha256=sha256_file(checkpoint))
    (copy_to / "manifest.json").write_text(json.dumps(manifest))
    return copy_to


def test_every_command_refuses_it(hostile, tiny_synth, tmp_path, onnx_exports):
    path, marker = hostile
    export = export_naming(path, onnx_exports["fp32"], tmp_path / "export-naming-it")
    picture = next((tiny_synth / "images").glob("*.png"))
    test_csv = tiny_synth / "test.csv"
    commands = {
        "fec-eval": (eval_cli.main, [path, "--data", test_csv]),
        "fec-export": (export_cli.main, [path, "--format", "onnx", "--out", tmp_path / "export", "--quiet"]),
        "fec-embed": (embed_cli.main, [picture, "--checkpoint", path, "--quiet"]),
        "fec-bench": (bench_cli.main, [path, "--backend", "torch", "--inputs", "random", "--batch", "1", "--quiet"]),
        "fec-verify": (verify_cli.main, [export, "--data", test_csv, "--no-record"]),
    }
    for name, (command, args) in commands.items():
        result = CliRunner().invoke(command, [str(a) for a in args])
        assert "refused" in result.stderr, (name, result.stderr)
        one_line_refusal(result, marker)


def test_resume_refuses_it(hostile, tiny_synth, tmp_path):
    path, marker = hostile
    run = tmp_path / "run"
    run.mkdir()
    path.rename(run / "last.pt")
    result = CliRunner().invoke(train_cli.main, ["--data", str(tiny_synth), "--out", str(run), "--resume", "--quiet"])
    one_line_refusal(result, marker)


def test_fec_checkpoints_load_with_weights_only(tiny_synth, tmp_path):
    Trainer(load_config(None, tiny_overrides(tiny_synth, max_steps=2)), tmp_path / "run", quiet=True).fit()
    payload = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert payload["step"] == 2 and payload["format"] == "fec-checkpoint/1"
    assert isinstance(payload["rng"]["numpy"]["keys"], torch.Tensor)


def test_rng_states_round_trip_through_plain_data():
    states = rng_states()
    expected = (np.random.rand(3), torch.rand(3))
    np.random.rand(5)
    restore_rng_states(states)
    assert np.array_equal(np.random.rand(3), expected[0]) and torch.equal(torch.rand(3), expected[1])


def test_checkpoints_of_the_earlier_format_still_load(tiny_synth, tmp_path):
    """Before 0.2 the numpy RNG state was saved as numpy's own tuple (an array inside)."""
    Trainer(load_config(None, tiny_overrides(tiny_synth, max_steps=2)), tmp_path / "run", quiet=True).fit()
    payload = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    payload["rng"]["numpy"] = np.random.get_state()
    torch.save(payload, tmp_path / "old.pt")
    restored = read_checkpoint(tmp_path / "old.pt")
    assert isinstance(restored["rng"]["numpy"][1], np.ndarray)
    restore_rng_states(restored["rng"])


def test_impossible_preprocessing_in_a_checkpoint_is_one_line(tmp_path):
    from fec.models import create_model
    from fec.models.checkpoint import save_checkpoint

    model = create_model("compact_cnn")
    save_checkpoint(tmp_path / "negative.pt", {"model": {**model.config, "input_size": -5}, "state_dict": model.state_dict(),
                                               "preprocessing": {"input_size": -5, "mean": [0.5] * 3, "std": [0.5] * 3}})
    result = CliRunner().invoke(eval_cli.main, [str(tmp_path / "negative.pt"), "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: {tmp_path / 'negative.pt'}: preprocessing input_size -5 is not a whole "
                                     "number of pixels in [16, 4096]")


def test_a_full_disk_while_saving_is_one_line_and_leaves_the_last_checkpoint_whole(tiny_synth, tmp_path, monkeypatch):
    import errno

    run = tmp_path / "run"
    Trainer(load_config(None, tiny_overrides(tiny_synth, max_steps=3)), run, quiet=True).fit()
    before = (run / "last.pt").read_bytes()

    def disk_full(payload, target):
        with open(target, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    trainer = Trainer(load_config(None, tiny_overrides(tiny_synth, max_steps=6)), run, quiet=True)
    with pytest.raises(CheckpointError, match=r"could not write the checkpoint \(No space left on device\); the previous"):
        trainer.fit(resume=True)
    assert (run / "last.pt").read_bytes() == before
    assert not [p for p in run.rglob("*.tmp")]
