"""Shared fixtures: caches in a temporary folder, and small triplet files written by hand."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", "/tmp/fec-test-inductor")
os.environ.setdefault("XDG_CACHE_HOME", "/tmp/fec-test-cache")


def fec_row(urls=("a.png", "b.png", "c.png"), kind="ONE_CLASS_TRIPLET", labels=(1, 1, 1, 2, 1, 3), box="0.1,0.9,0.1,0.9") -> str:
    """One official-format row: three (url, box) faces, a type and (rater, label) pairs."""
    faces = ",".join(f'"{url}",{box}' for url in urls)
    raters = ",".join(f'"{100 + i}",{label}' for i, label in enumerate(labels))
    return f'{faces},"{kind}",{raters}'


@pytest.fixture
def write_csv(tmp_path: Path):
    def write(rows: list[str], name: str = "triplets.csv") -> Path:
        path = tmp_path / name
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        return path

    return write
