"""fec.io: JSON files read as untrusted input."""

from __future__ import annotations

import pytest

from fec.errors import ArtifactError
from fec.io import read_json


@pytest.mark.parametrize(("text", "why"), [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply to be one"),
    ('{"batch": ', "Expecting value"),
])
def test_a_json_file_that_is_not_one_is_one_line_naming_it(tmp_path, text, why):
    path = tmp_path / "manifest.json"
    path.write_text(text)
    with pytest.raises(ArtifactError) as error:
        read_json(path, ArtifactError, "export manifest")
    assert str(error.value).startswith(f"{path}: unreadable export manifest (") and why in str(error.value)
    assert len(str(error.value).splitlines()) == 1


def test_an_output_under_a_file_is_one_line_naming_the_file_in_the_way(tmp_path):
    from fec.errors import OutputPathError
    from fec.io import atomic_folder, atomic_path, check_output_path, file_in_the_way, make_folder

    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    assert file_in_the_way(afile / "x" / "y.json") == afile and file_in_the_way(tmp_path / "new" / "y.json") is None
    assert check_output_path(tmp_path / "new" / "y.json") == tmp_path / "new" / "y.json"
    expected = f"{afile / 'x'}: {afile} is a file, not a folder; choose another path"
    for writer in (check_output_path, make_folder):
        with pytest.raises(OutputPathError) as error:
            writer(afile / "x")
        assert str(error.value) == expected
    for atomic in (atomic_path, atomic_folder):
        with pytest.raises(OutputPathError) as error, atomic(afile / "x" / "y"):
            pass
        assert str(error.value) == expected
    with pytest.raises(OutputPathError) as error:
        make_folder(afile)
    assert str(error.value) == f"{afile}: cannot make this folder (File exists)"
    assert sorted(tmp_path.iterdir()) == [afile]
