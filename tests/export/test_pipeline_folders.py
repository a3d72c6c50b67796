"""fec-export --out replaces only an empty folder or an earlier fec export; any other folder is refused, untouched."""

from __future__ import annotations

import json

import pytest

from fec.export.errors import ExportError
from fec.export.manifest import EXPORT_MANIFEST_SCHEMA, MANIFEST_NAME, ArtifactFile
from fec.export.pipeline import staging


def contents(folder) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(folder.iterdir())}


def earlier_export(folder):
    """A folder as fec-export leaves it: model.onnx and a manifest listing it."""
    folder.mkdir()
    (folder / "model.onnx").write_text("old weights")
    entry = ArtifactFile.describe(folder, "model.onnx", "onnx").to_dict()
    (folder / MANIFEST_NAME).write_text(json.dumps({"format": EXPORT_MANIFEST_SCHEMA, "files": [entry]}))
    return folder


def export_into(folder) -> None:
    with staging(folder) as scratch:
        (scratch / "model.onnx").write_text("new weights")


def assert_refused(folder, message: str) -> None:
    before = contents(folder)
    with pytest.raises(ExportError) as error:
        export_into(folder)
    assert str(error.value) == f"{folder}: {message}; choose another --out"
    assert contents(folder) == before
    assert [path.name for path in folder.parent.iterdir()] == [folder.name]  # no scratch folder left


def test_a_folder_with_someone_elses_manifest_is_refused_and_kept(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / MANIFEST_NAME).write_text('{"name": "my web app"}')
    (victim / "important.txt").write_text("x")
    assert_refused(victim, f"exists and is not an export folder (no valid {MANIFEST_NAME} with the "
                           f"'{EXPORT_MANIFEST_SCHEMA}' tag)")


def test_an_export_folder_holding_unlisted_files_is_refused_and_kept(tmp_path):
    folder = earlier_export(tmp_path / "export")
    (folder / "notes.txt").write_text("keep me")
    assert_refused(folder, "exists and is not an export folder: it also holds notes.txt, which its manifest does not list")


def test_a_file_is_not_replaced_by_a_folder(tmp_path):
    (tmp_path / "out").write_text("keep me")
    with pytest.raises(ExportError, match="out: exists and is not an export folder; choose another --out"):
        export_into(tmp_path / "out")
    assert (tmp_path / "out").read_text() == "keep me"


def test_an_earlier_export_or_an_empty_folder_is_replaced(tmp_path):
    export_into(earlier_export(tmp_path / "export"))
    assert contents(tmp_path / "export") == {"model.onnx": "new weights"}
    (tmp_path / "empty").mkdir()
    export_into(tmp_path / "empty")
    assert contents(tmp_path / "empty") == {"model.onnx": "new weights"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty", "export"]
