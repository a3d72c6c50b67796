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
