"""fec-triton reads export folders as untrusted input: a tampered manifest, sidecar or ONNX file is one line and
exit 2, nothing outside the folder is read, and no repository is written."""

from __future__ import annotations

import os
import shutil

import pytest
from click.testing import CliRunner
from tiny_export import add_engine, read_manifest_json, tiny_export, tiny_onnx, write_manifest_json

from fec.cli import triton as triton_cli
from fec.export.manifest import ArtifactFile
from fec.triton.errors import RepositoryError
from fec.triton.exports import read_exports
from fec.triton.model_io import onnx_model_io


def fec_triton(folder, repo):
    return CliRunner().invoke(triton_cli.main, [str(folder), "--repo", str(repo), "--embedding", "onnx"],
                              catch_exceptions=False)


def assert_refused(folder, repo, fragment: str) -> None:
    result = fec_triton(folder, repo)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.output
    assert not repo.exists()


def test_a_tiny_export_packages(tmp_path):
    """The folder the other tests tamper with is itself good."""
    exports = read_exports([tiny_export(tmp_path / "export")])
    assert (exports.onnx_io.max_batch, exports.face_margin, exports.model_name) == (32, 0.1, "compact_cnn")
    engine = read_exports([add_engine(tiny_export(tmp_path / "trt"))]).engines[0]
    assert (engine.compute_capability, engine.max_batch, engine.io.outputs[0].shape) == ("8.9", 16, (-1, 16))


@pytest.mark.parametrize("field, value, fragment", [
    ("batch", {"min": 1, "opt": 8, "max": "abc"}, "manifest.json: batch.max 'abc' is not a whole number in [1, 4096]"),
    ("batch", {"min": 1, "opt": 8, "max": -3}, "manifest.json: batch.max -3 is not a whole number in [1, 4096]"),
    ("batch", {"min": 1, "opt": 8, "max": 10**12}, "manifest.json: batch.max 1000000000000 is not a whole number in"),
    ("batch", "x", "manifest.json: 'batch' is str, not a mapping"),
    ("preprocessing", "x", "manifest.json: 'preprocessing' is str, not a mapping"),
    ("source", {"face_size": 64, "face_margin": -0.6}, "manifest.json: source: face_margin -0.6 is not a number in [0, 1]"),
    ("source", "x", "manifest.json: 'source' is str, not a mapping; re-run fec-export"),
    ("io", "x", "manifest.json: 'io' is str, not a mapping; re-run fec-export"),
])
def test_a_manifest_field_of_the_wrong_type_or_range_is_one_line_naming_it(tmp_path, field, value, fragment):
    folder = tiny_export(tmp_path / "export")
    manifest = read_manifest_json(folder)
    manifest[field] = value
    write_manifest_json(folder, manifest)
    assert_refused(folder, tmp_path / "repo", f"{folder}/{fragment}")


def test_the_sidecar_cannot_lead_to_an_onnx_file_outside_the_folder(tmp_path):
    tiny_onnx(tmp_path / "elsewhere.onnx")  # a readable ONNX file outside the folder: it used to be read
    for source_onnx in ("../elsewhere.onnx", str(tmp_path / "elsewhere.onnx"), "../../../../../../../../etc/passwd"):
        folder = add_engine(tiny_export(tmp_path / "trt"), source_onnx=source_onnx)
        assert_refused(folder, tmp_path / "repo", f"{folder}/model.plan.json: source_onnx {source_onnx!r} is not the "
                                                   "export's ONNX file (model.onnx); rebuild the engine")
        shutil.rmtree(folder)


@pytest.mark.parametrize("fields, fragment", [
    ({"profile": "x"}, "'profile' needs min, opt and max shapes of four whole numbers >= 1"),
    ({"profile": {"min": [1, 3, 32, 32], "opt": [8, 3, 32, 32], "max": ["16", 3, 32, 32]}}, "'profile' needs min, opt"),
    ({"gpu": "x"}, "'gpu' needs a name and a compute_capability"),
    ({"gpu": {"name": "GPU", "compute_capability": "9.0/../../../x"}}, "'gpu' needs a name and a compute_capability"),
    ({"input_format": "weird"}, "'input_format' 'weird' is not one of float32-nchw, uint8-nhwc"),
    ({"source_onnx": 3}, "'source_onnx' is not a string"),
])
def test_a_damaged_sidecar_is_one_line_naming_the_field(tmp_path, fields, fragment):
    folder = add_engine(tiny_export(tmp_path / "trt"), **fields)
    assert_refused(folder, tmp_path / "repo", f"{folder}/model.plan.json: damaged engine sidecar: {fragment}")


def test_an_engine_sidecar_must_be_listed_and_so_hash_checked(tmp_path):
    folder = add_engine(tiny_export(tmp_path / "trt"))
    manifest = read_manifest_json(folder)
    manifest["files"] = [entry for entry in manifest["files"] if entry["role"] != "engine-sidecar"]
    write_manifest_json(folder, manifest)
    assert_refused(folder, tmp_path / "repo", f"{folder}/manifest.json: the engine model.plan has no sidecar "
                                               "model.plan.json among its files")


def test_a_listed_file_linking_outside_the_folder_is_refused(tmp_path):
    outside = tiny_export(tmp_path / "outside")
    folder = tiny_export(tmp_path / "export")
    (folder / "model.onnx").unlink()
    os.symlink(outside / "model.onnx", folder / "model.onnx")  # same bytes, so the sha256 matches
    assert_refused(folder, tmp_path / "repo", f"{folder}/model.onnx: a link leading outside the export folder")


@pytest.mark.parametrize("listed", [False, True])
def test_onnx_weights_in_a_separate_file_are_refused(tmp_path, listed):
    folder = tiny_export(tmp_path / "export", external_weights="weights.bin")
    assert (folder / "weights.bin").is_file()
    if listed:  # even hash-checked, fec never writes such files
        manifest = read_manifest_json(folder)
        manifest["files"].append(ArtifactFile.describe(folder, "weights.bin", "onnx-data").to_dict())
        write_manifest_json(folder, manifest)
    assert_refused(folder, tmp_path / "repo", f"{folder}/model.onnx: keeps weights in separate files (ONNX external "
                                               "data), which no manifest covers; fec exports are single files")


def test_an_unreadable_onnx_file_is_a_repository_error(tmp_path):
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(RepositoryError, match=r"passwd: not a readable ONNX file \(DecodeError\)"):
        onnx_model_io(tmp_path / "passwd")
