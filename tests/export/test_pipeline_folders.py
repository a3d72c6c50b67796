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


KILLED_EXPORT = """
import os, signal, sys
from pathlib import Path
from fec.export.pipeline import staging

folder, moment = Path(sys.argv[1]), sys.argv[2]
real_replace = os.replace

def replace(source, target):  # the second rename puts the new export in place: kill -9 just before it
    if Path(target) == folder and moment == "after retiring":
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(source, target)

os.replace = replace
with staging(folder) as scratch:
    (scratch / "model.onnx").write_text("half-written weights")
    if moment == "while writing":
        os.kill(os.getpid(), signal.SIGKILL)
"""


def kill_an_export(folder, moment: str) -> int:
    """Run an export into `folder` in another process that is killed with SIGKILL at `moment`; its return code."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import fec

    package_root = str(Path(fec.__file__).resolve().parents[1])  # the fec under test, not another install
    return subprocess.run([sys.executable, "-c", KILLED_EXPORT, str(folder), moment],
                          env={**os.environ, "PYTHONPATH": package_root}).returncode


@pytest.mark.parametrize("moment", ["while writing", "after retiring"])
def test_the_next_export_tidies_what_a_killed_one_left_and_keeps_the_earlier_export(tmp_path, moment):
    """kill -9 left a hidden .export.new-* (and, between the two renames, the earlier export only inside a hidden
    .export.old-*) beside --out for good."""
    import signal

    earlier_export(tmp_path / "export")
    assert kill_an_export(tmp_path / "export", moment) == -signal.SIGKILL
    leftovers = sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".export."))
    assert leftovers and all(name.startswith((".export.new-", ".export.old-")) for name in leftovers)
    export_into(tmp_path / "export")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["export"]
    assert contents(tmp_path / "export") == {"model.onnx": "new weights"}


def test_a_killed_export_between_its_renames_leaves_the_earlier_one_to_the_next_run(tmp_path):
    from fec.io import clear_killed_scratch

    earlier_export(tmp_path / "export")
    kill_an_export(tmp_path / "export", "after retiring")
    assert not (tmp_path / "export").exists()
    clear_killed_scratch(tmp_path / "export")
    assert contents(tmp_path / "export")["model.onnx"] == "old weights"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["export"]


def test_a_running_exports_scratch_folder_is_left_alone(tmp_path):
    import os

    from fec.io import clear_killed_scratch

    running = tmp_path / f".export.new-{os.getpid()}-abc123"
    running.mkdir()
    clear_killed_scratch(tmp_path / "export")
    assert running.is_dir()
