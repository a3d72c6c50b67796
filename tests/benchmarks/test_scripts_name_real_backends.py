"""The shell recipes (benchmarks/*.sh, triton_repo/*.sh, the Makefile) name backends by their registered names.
They run only on the machines they are for (a GPU, a Zen 4), so a renamed backend would break them far from
CI: benchmarks/gpu_check.sh kept `onnxruntime-cpu` for a release after the rename, and took OpenVINO for an
ONNX Runtime GPU provider once it joined the onnx kind."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from fec.runtimes.backends import backend_names

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted([*REPO.glob("benchmarks/*.sh"), *REPO.glob("triton_repo/*.sh"), REPO / "Makefile"])
# a literal `--backend a,b` (not a shell variable), or a *BACKENDS=a,b assignment
NAMED = re.compile(r"(?:--backend[ =]|BACKENDS=)([A-Za-z0-9_,-]+)")


def named_backends(text: str) -> set[str]:
    return {name for match in NAMED.finditer(text) for name in match.group(1).split(",") if name}


def test_the_pattern_finds_literal_names_and_skips_variables():
    text = 'x --backend "$ORT" y --backend torch,onnxruntime\nTORCH_BACKENDS=torch-cuda,torch-cuda-fp16\n'
    assert named_backends(text) == {"torch", "onnxruntime", "torch-cuda", "torch-cuda-fp16"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_backend_a_script_names_is_registered(script):
    unknown = named_backends(script.read_text()) - set(backend_names())
    assert not unknown, f"{script.name} names backends that do not exist: {sorted(unknown)}"


def test_gpu_check_takes_only_onnx_runtime_backends_for_its_gpu_providers():
    text = (REPO / "benchmarks" / "gpu_check.sh").read_text()
    line = next(line for line in text.splitlines() if line.startswith("ORT_GPU="))
    assert "grep '^onnxruntime-'" in line, line


@pytest.mark.parametrize("seeds", ["9-0", "x", "0-"])
def test_gpu_seeds_refuses_a_bad_seed_range_in_one_line(seeds, tmp_path):
    result = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_seeds.sh"), str(tmp_path), str(tmp_path / "out")],
                            env={**os.environ, "DEVICE": "cpu", "SEEDS": seeds}, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == f"gpu_seeds: SEEDS must be FIRST-LAST, e.g. 0-9 (got '{seeds}')\n"
