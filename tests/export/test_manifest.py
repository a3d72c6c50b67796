"""Export manifests are untrusted: every file entry must name a file inside its folder, with role and sha256."""

from __future__ import annotations

import json

import pytest

from fec.export.errors import ExportError
from fec.export.manifest import FORMAT, MANIFEST_NAME, read_manifest

GOOD_ENTRY = {"path": "model.onnx", "role": "onnx", "sha256": "0" * 64, "bytes": 1}


def folder_with(tmp_path, files):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / MANIFEST_NAME).write_text(json.dumps({"format": FORMAT, "files": files}))
    return folder


def test_a_well_formed_manifest_reads(tmp_path):
    assert read_manifest(folder_with(tmp_path, [GOOD_ENTRY, {**GOOD_ENTRY, "path": "engines/a.plan"}]))["files"]


@pytest.mark.parametrize("files, problem", [
    ([{"path": "model.onnx", "sha256": "0" * 64}], "files[0] lacks a path, role or sha256"),
    ("model.onnx", "'files' is not a list"),
    ([GOOD_ENTRY, {**GOOD_ENTRY, "path": "../../etc/passwd"}], "files[1] path '../../etc/passwd' is not inside"),
    ([{**GOOD_ENTRY, "path": "/etc/passwd"}], "files[0] path '/etc/passwd' is not inside"),
    ([{**GOOD_ENTRY, "path": "..\\secret.onnx"}], "is not inside the export folder"),
])
def test_a_bad_file_entry_is_one_line_naming_it(tmp_path, files, problem):
    folder = folder_with(tmp_path, files)
    with pytest.raises(ExportError) as error:
        read_manifest(folder)
    assert str(error.value).startswith(f"{folder / MANIFEST_NAME}: ")
    assert problem in str(error.value) and str(error.value).endswith("; re-run fec-export")
