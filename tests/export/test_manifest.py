"""Export manifests are untrusted: every file entry must name a file inside its folder, with role and sha256."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from fec.export.errors import ExportError
from fec.export.manifest import EXPORT_MANIFEST_SCHEMA, MANIFEST_NAME, check_files, read_manifest

GOOD_ENTRY = {"path": "model.onnx", "role": "onnx", "sha256": "0" * 64, "bytes": 1}


def folder_with(tmp_path, files):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / MANIFEST_NAME).write_text(json.dumps({"format": EXPORT_MANIFEST_SCHEMA, "files": files}))
    return folder


def test_a_well_formed_manifest_reads(tmp_path):
    assert read_manifest(folder_with(tmp_path, [GOOD_ENTRY, {**GOOD_ENTRY, "path": "engines/a.plan"}]))["files"]


@pytest.mark.parametrize("files, problem", [
    ([{"path": "model.onnx", "sha256": "0" * 64}], "files[0] lacks a path, role or sha256"),
    ("model.onnx", "'files' is not a list"),
    ([GOOD_ENTRY, {**GOOD_ENTRY, "path": "../../etc/passwd"}], "files[1] path '../../etc/passwd' is not inside"),
    ([{**GOOD_ENTRY, "path": "/etc/passwd"}], "files[0] path '/etc/passwd' is not inside"),
    ([{**GOOD_ENTRY, "path": "..\\secret.onnx"}], "is not inside the export folder"),
    ([{**GOOD_ENTRY, "bytes": "x"}], "files[0] bytes 'x' is not a whole number >= 0"),
])
def test_a_bad_file_entry_is_one_line_naming_it(tmp_path, files, problem):
    folder = folder_with(tmp_path, files)
    with pytest.raises(ExportError) as error:
        read_manifest(folder)
    assert str(error.value).startswith(f"{folder / MANIFEST_NAME}: ")
    assert problem in str(error.value) and str(error.value).endswith("; re-run fec-export")


@pytest.mark.parametrize("section", ["batch", "io", "preprocessing", "source", "verification"])
def test_a_section_that_is_not_a_mapping_is_one_line_naming_it(tmp_path, section):
    folder = folder_with(tmp_path, [GOOD_ENTRY])
    (folder / MANIFEST_NAME).write_text(json.dumps({"format": EXPORT_MANIFEST_SCHEMA, "files": [GOOD_ENTRY], section: "x"}))
    with pytest.raises(ExportError) as error:
        read_manifest(folder)
    assert str(error.value) == f"{folder / MANIFEST_NAME}: '{section}' is str, not a mapping; re-run fec-export"


def listed_folder(tmp_path, name: str, payload: bytes = b"weights"):
    """An export folder listing `name` with the sha256 of `payload` (the file itself is left to the test)."""
    return folder_with(tmp_path, [{**GOOD_ENTRY, "path": name, "sha256": hashlib.sha256(payload).hexdigest()}])


@pytest.mark.parametrize("name", ["model.onnx", "lnk/model.onnx"])
def test_a_listed_file_may_not_lead_outside_the_folder_by_a_link(tmp_path, name):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "model.onnx").write_bytes(b"weights")  # same bytes: the sha256 alone would pass it
    folder = listed_folder(tmp_path, name)
    if name.startswith("lnk/"):
        os.symlink(outside, folder / "lnk")
    else:
        os.symlink(outside / "model.onnx", folder / name)
    with pytest.raises(ExportError) as error:
        check_files(folder, read_manifest(folder))
    assert str(error.value) == (f"{folder / name}: a link leading outside the export folder ({outside / 'model.onnx'}); "
                                "an export holds its own files, re-run fec-export")


def test_a_link_loop_is_refused_and_a_link_inside_the_folder_is_followed(tmp_path):
    folder = listed_folder(tmp_path, "model.onnx")
    os.symlink("model.onnx", folder / "model.onnx")
    with pytest.raises(ExportError, match="a link leading outside the export folder"):
        check_files(folder, read_manifest(folder))
    (folder / "model.onnx").unlink()
    (folder / "real.onnx").write_bytes(b"weights")
    os.symlink("real.onnx", folder / "model.onnx")
    check_files(folder, read_manifest(folder))  # no error: the link stays inside
