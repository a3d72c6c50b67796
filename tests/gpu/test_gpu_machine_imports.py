"""The GPU check machine has no tensorrt, tritonclient, nvidia-pytriton or modelopt: the commands it runs must
import and list their backends without them (every such import is lazy). Not a GPU test: it runs everywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ABSENT = ("tensorrt", "tritonclient", "pytriton", "modelopt")

PROGRAM = f"""
import sys

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {ABSENT!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")
        return None

sys.meta_path.insert(0, Absent())
import fec.cli.bench, fec.cli.train, fec.cli.export, fec.cli.verify, fec.cli.data, fec.cli.evaluate
from click.testing import CliRunner
for module in (fec.cli.bench, fec.cli.train, fec.cli.export, fec.cli.verify):
    assert CliRunner().invoke(module.main, ["--help"]).exit_code == 0, module
from fec.runtimes.backends import get_backend
from fec.runtimes import list_runners
print(get_backend("tensorrt").unavailable())
print(get_backend("triton-http").unavailable())
print(",".join(list_runners()))
print(sorted(name for name in sys.modules if name.split(".")[0] in {ABSENT!r}))
"""


def test_commands_import_and_list_backends_without_tensorrt_or_triton_packages():
    result = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, cwd=ROOT, timeout=300)

    assert result.returncode == 0, result.stderr
    tensorrt, triton, runners, loaded = result.stdout.strip().splitlines()
    assert tensorrt == "tensorrt is not installed (NVIDIA's TensorRT wheel)"
    assert triton == "tritonclient is not installed (pip install 'tritonclient[http,grpc]')"
    assert runners == "onnxruntime,openvino,tensorrt,torch,torch_compile,triton"
    assert loaded == "[]"
