"""Fixtures for export tests: the session's briefly trained model and its ONNX exports (built once)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "runtimes"))  # fake_tensorrt
sys.path.insert(0, str(HERE))

import export_fixtures  # noqa: E402


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> export_fixtures.TrainedModel:
    return export_fixtures.trained_model(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def onnx_exports(trained, tmp_path_factory) -> dict[str, Path]:
    return export_fixtures.onnx_exports(tmp_path_factory.getbasetemp(), trained)
