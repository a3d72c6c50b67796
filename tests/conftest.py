"""Shared fixtures: caches in a temporary folder, small triplet files, a tiny synthetic dataset."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", "/tmp/fec-test-inductor")
os.environ.setdefault("XDG_CACHE_HOME", "/tmp/fec-test-cache")
sys.path.insert(0, str(Path(__file__).parent / "export"))  # export_fixtures


def pytest_addoption(parser):
    parser.addoption("--learning-seeds", default="0", metavar="SEEDS",
                     help="seeds of tests/train/test_learning.py: 0-4, or 0,3 (default: 0, what the suite runs)")
    parser.addoption("--learning-amp", default="auto", choices=("auto", "off", "bf16"),
                     help="amp of tests/train/test_learning.py (default: auto, what fec-train picks on this CPU)")


def pytest_configure(config):
    config.learning_seeds = seed_list(config.getoption("--learning-seeds"))  # a bad value stops pytest in one line


def pytest_sessionstart(session):
    """Read the kernels before any test changes the thread count (reported by pytest_terminal_summary)."""
    import torch  # noqa: F401  (loaded first, so the record names ATen's kernels)

    from fec.hardware import describe_kernels, kernel_record

    session.config.kernels = describe_kernels(kernel_record())


def pytest_terminal_summary(terminalreporter, config):
    """The kernels this run used, in every test log (also under -q, above the closing counts): training
    trajectories and timings differ between CPU kinds (AVX2, AVX-512; ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA),
    so a failure names the CPU it happened on."""
    terminalreporter.write_line(f"kernels: {config.kernels}")


def pytest_generate_tests(metafunc):
    if "learning_seed" in metafunc.fixturenames:
        metafunc.parametrize("learning_seed", metafunc.config.learning_seeds)


def seed_list(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '0,3' -> [0, 3]; anything else is a one-line usage error."""
    seeds = []
    try:
        for part in text.split(","):
            first, _, last = part.partition("-")
            seeds += range(int(first), int(last or first) + 1)
    except ValueError:
        raise pytest.UsageError(f"--learning-seeds {text!r}: give seeds as 0-4 or 0,3") from None
    return seeds


# The CPU kinds this project's machines come as, in /proc/cpuinfo's words. A test whose expectation depends on
# the CPU takes `cpu_kind` and so checks the code's branch for both kinds, whichever machine runs it.
CPU_KINDS = {
    "zen4": ("model name\t: AMD EPYC 9R14 96-Core Processor\ncpu MHz\t\t: 2600.000\n"
             "flags\t\t: fpu sse2 avx fma avx2 avx512f avx512bw avx512vl avx512_vnni avx512_bf16 bmi2\n"),
    "avx2": ("model name\t: AMD EPYC 7B13 64-Core Processor\ncpu MHz\t\t: 2445.406\n"
             "flags\t\t: fpu sse2 avx fma avx2 bmi2\n"),
}


@pytest.fixture(params=sorted(CPU_KINDS))
def cpu_kind(request, tmp_path_factory, monkeypatch):
    """fec.hardware's answer made to describe one CPU kind: "zen4" (AVX-512 with VNNI and native bf16) or
    "avx2" (AVX2 only). Code that reads fec.hardware then takes that kind's branch; what needs the real
    instruction set to run (OpenVINO's bf16 inference) still runs on this machine's CPU."""
    from fec.hardware import cpu_info

    path = tmp_path_factory.mktemp("cpu") / f"cpuinfo-{request.param}"
    path.write_text(CPU_KINDS[request.param])
    monkeypatch.setattr("fec.hardware.CPUINFO_PATH", path)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    return cpu_info()


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


@contextmanager
def shared_build(tmp_path_factory, name: str):
    """The folder where a session build goes, held for one builder at a time. Under pytest-xdist (`make test`
    runs two workers) it is the folder the workers' own base folders share, so the first worker to ask builds
    and the other waits, then reuses (each builder returns at once when its result is on disk)."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    with FileLock(root / f"{name}.lock"):
        yield root


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """The session's briefly trained ResNet18 and its data (tests/export/export_fixtures.py), built once."""
    import export_fixtures

    with shared_build(tmp_path_factory, "trained") as root:
        return export_fixtures.trained_model(root)


@pytest.fixture(scope="session")
def onnx_exports(trained, tmp_path_factory) -> dict[str, Path]:
    """Its fp32, fp16 and int8 ONNX exports, built once."""
    import export_fixtures

    with shared_build(tmp_path_factory, "onnx_exports") as root:
        return export_fixtures.onnx_exports(root, trained)


@pytest.fixture(scope="session")
def small_test_csv(trained) -> Path:
    """The first 40 test triplets: enough to see a broken export, cheaper than all 600."""
    path = trained.test_csv.with_name("test-small.csv")
    if not path.is_file():
        path.write_text("".join(trained.test_csv.read_text().splitlines(keepends=True)[:40]))
    return path


@pytest.fixture(scope="session")
def mtcnn():
    """The real MTCNN face detector, built once; skipped (with the reason) only where facenet-pytorch is not
    installed (`make install` installs it)."""
    import importlib.util

    if importlib.util.find_spec("facenet_pytorch") is None:
        pytest.skip("facenet-pytorch is not installed (pip install --no-deps facenet-pytorch requests)")
    from fec.detect import create_detector

    return create_detector("mtcnn")
