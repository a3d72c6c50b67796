"""`--help` of every command loads no torch and no onnx: the commands read their defaults from the library's
light option classes (fec.deploy.options, fec.export.registry, fec.triton.options ...), never restating them."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

SETUP = Path(__file__).parents[2] / "setup.cfg"


def commands() -> dict[str, str]:
    """fec-* -> its module, from setup.cfg's console_scripts."""
    parser = configparser.ConfigParser()
    parser.read(SETUP)
    lines = parser["options.entry_points"]["console_scripts"].strip().splitlines()
    return {name.strip(): target.strip().split(":")[0] for name, target in (line.split("=") for line in lines)}


PROBE = """
import sys
from {module} import main
try:
    main(["--help"], standalone_mode=False)
except SystemExit:
    pass
print("loaded:" + ",".join(sorted(name for name in ("torch", "onnx", "onnxruntime", "openvino") if name in sys.modules)))
"""


@pytest.mark.parametrize("command", sorted(commands()))
def test_help_loads_no_heavy_library(command):
    probe = subprocess.run([sys.executable, "-c", PROBE.format(module=commands()[command])], capture_output=True,
                           text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert "Usage: " in probe.stdout and probe.stdout.strip().splitlines()[-1] == "loaded:"
