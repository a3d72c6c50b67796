"""fec-train / fec-eval / fec-data from the user's side: exit codes, one-line errors, files written."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from fec.cli import data as data_cli
from fec.cli import evaluate as eval_cli
from fec.cli import train as train_cli
from fec.data.synth import write_synthetic_dataset
from tests.helpers import png_header, tiny_overrides


def invoke(command, args):
    result = CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)
    return result


def train_args(data, out, **extra):
    overrides = tiny_overrides(data, max_steps=2, **extra)
    sets = [f"--set={k}={v}" for k, v in overrides.items() if k not in ("data", "model")]
    return ["--data", data, "--model", overrides["model"], "--out", out, "--quiet", *sets]


@pytest.fixture
def dataset(tmp_path):
    out = tmp_path / "synth"
    write_synthetic_dataset(out, triplets=30, seed=2, image_size=40)
    return out


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_train_then_eval_writes_json_and_embeddings(dataset, tmp_path):
    run = tmp_path / "run"
    assert invoke(train_cli.main, train_args(dataset, run)).exit_code == 0
    result = invoke(eval_cli.main, [run / "last.pt", "--data", dataset, "--json", tmp_path / "acc.json",
                                    "--embeddings", tmp_path / "emb.npz", "--face-size", 64])
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "acc.json").read_text())
    assert table["overall"]["count"] == 6 and 0.0 <= table["overall"]["accuracy"] <= 1.0
    assert sum(table[k]["count"] for k in ("ONE_CLASS_TRIPLET", "TWO_CLASS_TRIPLET", "THREE_CLASS_TRIPLET")) == 6
    arrays = np.load(tmp_path / "emb.npz")
    assert arrays["a"].shape == arrays["b"].shape == arrays["c"].shape == (6, 16)
    assert np.allclose(np.linalg.norm(arrays["a"], axis=1), 1.0, atol=1e-5)
    assert set(arrays["odd"].tolist()) <= {1, 2, 3}
    assert arrays["row"].tolist() == sorted(arrays["row"].tolist())
    assert "overall" in result.stdout


def test_malformed_row_is_one_line_with_file_and_line(dataset, tmp_path):
    train_csv = dataset / "train.csv"
    lines = train_csv.read_text().splitlines()
    for kind in ("ONE_CLASS_TRIPLET", "TWO_CLASS_TRIPLET", "THREE_CLASS_TRIPLET"):
        lines[2] = lines[2].replace(kind, "FOUR_CLASS")
    train_csv.write_text("\n".join(lines) + "\n")
    result = invoke(train_cli.main, train_args(dataset, tmp_path / "run"))
    assert_one_line_error(result, f"{train_csv}:3:", "unknown triplet type 'FOUR_CLASS'", "--skip-bad-rows")
    skipped = invoke(train_cli.main, train_args(dataset, tmp_path / "run", skip_bad_rows="true"))
    assert skipped.exit_code == 0
    assert f"warning: {train_csv}: skipped 1 malformed row(s), first: " in skipped.stderr


def test_missing_images_drop_triplets_and_all_missing_is_an_error(dataset, tmp_path):
    first_image = sorted((dataset / "images").glob("train_*.png"))[0]
    first_image.unlink()
    result = invoke(train_cli.main, train_args(dataset, tmp_path / "run"))
    assert result.exit_code == 0
    dropped = [line for line in result.stderr.splitlines() if "dropped" in line]
    assert len(dropped) == 1 and dropped[0].startswith(f"warning: {dataset / 'train.csv'}: dropped "), result.stderr
    assert "triplet(s) with missing faces" in dropped[0] and first_image.name in dropped[0]
    shutil.rmtree(dataset / "images")
    shutil.rmtree(dataset / "faces")
    result = invoke(train_cli.main, train_args(dataset, tmp_path / "run2"))
    assert_one_line_error(result, "train.csv: none of", "image file not found")


def test_truncated_and_non_image_files_name_the_file(dataset, tmp_path):
    picture = sorted((dataset / "images").glob("train_*.png"))[0]
    picture.write_bytes(picture.read_bytes()[:100])
    result = invoke(train_cli.main, train_args(dataset, tmp_path / "run"))
    assert_one_line_error(result, str(picture), "not a readable image")
    picture.write_text("<html>not an image</html>")
    result = invoke(train_cli.main, train_args(dataset, tmp_path / "run"))
    assert_one_line_error(result, str(picture), "not a readable image")
    picture.write_bytes(png_header(30000, 30000))  # 900 megapixels claimed in 57 bytes
    result = invoke(train_cli.main, train_args(dataset, tmp_path / "run"))
    assert_one_line_error(result, str(picture), "over the 80 megapixel limit")
    loud = [arg for arg in train_args(dataset, tmp_path / "run") if arg != "--quiet"]  # warnings are quiet with --quiet
    skipped = invoke(train_cli.main, [*loud, "--skip-bad-rows"])  # the flag the error line names
    assert skipped.exit_code == 0, skipped.output
    counted = [line for line in skipped.output.splitlines() if "unreadable image" in line]
    assert len(counted) == 1 and "triplet(s) with missing faces (" in counted[0] and str(picture) in counted[0]


def test_pictures_outside_the_data_folder_are_refused_unless_allowed(dataset, tmp_path):
    train_csv = dataset / "train.csv"
    first = sorted((dataset / "images").glob("train_*.png"))[0]
    shutil.copy(first, tmp_path / "outside.png")
    train_csv.write_text(train_csv.read_text().replace(f"images/{first.name}", "../outside.png"))
    result = invoke(train_cli.main, train_args(dataset, tmp_path / "run"))
    assert_one_line_error(result, f"{train_csv}:", "image path '../outside.png' is outside the data folder")
    allowed = invoke(train_cli.main, [*train_args(dataset, tmp_path / "run"), "--set", "allow_outside_paths=true"])
    assert allowed.exit_code == 0, allowed.output


def test_unknown_model_lists_the_available_ones(dataset, tmp_path):
    result = invoke(train_cli.main, ["--data", dataset, "--model", "resnet1000", "--out", tmp_path / "run", "--quiet"])
    assert_one_line_error(result, "unknown model 'resnet1000'", "mobilenet_v3_small", "resnet18")


def test_checkpoint_from_another_model_or_not_a_checkpoint(dataset, tmp_path):
    run = tmp_path / "run"
    assert invoke(train_cli.main, train_args(dataset, run)).exit_code == 0
    resumed = invoke(train_cli.main, [*train_args(dataset, run), "--resume", "--model", "resnet18"])
    assert_one_line_error(resumed, "trained with model 'mobilenet_v3_small'", "'resnet18'")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00" * 64)
    assert_one_line_error(invoke(eval_cli.main, [garbage, "--data", dataset]), str(garbage),
                          "not a PyTorch checkpoint (neither torch's zip format nor a pickle)")
    import torch

    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    assert_one_line_error(invoke(eval_cli.main, [tmp_path / "foreign.pt", "--data", dataset]), "not an fec checkpoint")


def test_resume_with_nothing_to_resume_is_one_line_and_keeps_the_run_folder(dataset, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 7, "split": "train", "loss": 0.5}\n')
    result = invoke(train_cli.main, [*train_args(dataset, run), "--resume"])
    assert_one_line_error(result, f"{run}: nothing to resume", "train without --resume")
    assert (run / "metrics.jsonl").read_text() == '{"step": 7, "split": "train", "loss": 0.5}\n'
    assert sorted(path.name for path in run.iterdir()) == ["metrics.jsonl"]  # no config.yaml, machine.jsonl
    missing = tmp_path / "never-trained"
    assert_one_line_error(invoke(train_cli.main, [*train_args(dataset, missing), "--resume"]), "nothing to resume")
    assert not missing.exists()  # a refused start makes no folder
    no_data = invoke(train_cli.main, ["--out", missing, "--resume", "--quiet"])
    assert_one_line_error(no_data, f"--resume: {missing} is not a run folder, so there is nothing to resume")


def test_resume_with_a_changed_setting_is_one_line(dataset, tmp_path):
    run = tmp_path / "run"
    assert invoke(train_cli.main, train_args(dataset, run)).exit_code == 0
    result = invoke(train_cli.main, ["--out", run, "--resume", "--quiet", "--set", "embedding_dim=32"])
    assert_one_line_error(result, "--resume with embedding_dim=32, but the run was trained with embedding_dim=16")
    extended = invoke(train_cli.main, ["--out", run, "--resume", "--quiet", "--set", "max_steps=3"])
    assert extended.exit_code == 0, extended.output


def test_bad_config_key_is_one_line(dataset, tmp_path):
    result = invoke(train_cli.main, [*train_args(dataset, tmp_path / "run"), "--set", "learnig_rate=1"])
    assert_one_line_error(result, "unknown config key(s) learnig_rate")


def test_inspect_reports_counts_and_every_malformed_row(dataset):
    test_csv = dataset / "test.csv"
    test_csv.write_text(test_csv.read_text() + "broken,row\n")
    result = invoke(data_cli.main, ["inspect", test_csv, "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert summary["triplets"] == 6
    assert sum(summary["per_type"].values()) == 6
    assert summary["raters_per_triplet"] == {"6": 6}
    assert len(summary["malformed_rows"]) == 1 and summary["malformed_rows"][0].startswith(f"{test_csv}:7:")
