"""Shared fixtures: caches in a temporary folder, small triplet files, a tiny synthetic dataset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", "/tmp/fec-test-inductor")
os.environ.setdefault("XDG_CACHE_HOME", "/tmp/fec-test-cache")


@pytest.fixture
def write_csv(tmp_path: Path):
    def write(rows: list[str], name: str = "triplets.csv") -> Path:
        path = tmp_path / name
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    """60 synthetic triplets with small faces: enough to exercise training, not to learn."""
    from fec.data.synth import write_synthetic_dataset

    out = tmp_path_factory.mktemp("tiny_synth")
    write_synthetic_dataset(out, triplets=60, seed=5, image_size=48)
    return out
