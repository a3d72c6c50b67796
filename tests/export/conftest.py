"""Export tests also import the recording fake of tensorrt (tests/runtimes); the session's trained model and
its ONNX exports are fixtures of tests/conftest.py, shared with tests/cli and tests/test_verify.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "runtimes"))  # fake_tensorrt
