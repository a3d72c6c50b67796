"""The hardware a step runs on, asked in one place: builders record it, runners check against it, and every
verification and benchmark result carries its profile (CPU model, ISA, cores, GPUs), so a figure always
names the machine it came from."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from fec.errors import ConfigError, HardwareError


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: str  # "8.9"

    @property
    def sm(self) -> str:
        return "sm_" + self.compute_capability.replace(".", "")


def current_gpu(device: int = 0) -> GpuInfo:
    """The CUDA GPU `device`, or HardwareError when none is visible."""
    import torch

    if not torch.cuda.is_available():
        raise HardwareError("TensorRT needs a CUDA GPU, and none is visible here (torch.cuda.is_available() is False)")
    major, minor = torch.cuda.get_device_capability(device)
    return GpuInfo(torch.cuda.get_device_name(device), f"{major}.{minor}")


def resolve_device(setting: str):
    """A torch.device from a `device` option: `auto` is the GPU when there is one, else the CPU."""
    import torch

    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {setting!r} asked for, but no CUDA GPU is available")
    return torch.device(setting)


# The CPU features that change which kernels run (and so speed and even numerics): what a profile records.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


@dataclass(frozen=True)
class CpuInfo:
    model: str
    cores: int
    isa: tuple[str, ...]          # the ISA_FLAGS this CPU has
    aten_capability: str | None   # the kernels PyTorch picked (ATEN_CPU_CAPABILITY can narrow them), when loaded


def cpu_flags(cpuinfo: str) -> set[str]:
    """Every flag of /proc/cpuinfo's first `flags` line."""
    match = re.search(r"^flags\s*:\s*(.*)$", cpuinfo, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def cpu_info(cpuinfo_path: str | Path = "/proc/cpuinfo") -> CpuInfo:
    """This CPU as /proc/cpuinfo describes it (empty fields where there is none, e.g. not Linux)."""
    path = Path(cpuinfo_path)
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    model = re.search(r"^model name\s*:\s*(.*)$", text, re.MULTILINE)
    flags = cpu_flags(text)
    torch = sys.modules.get("torch")  # never imported just for this
    capability = torch.backends.cpu.get_cpu_capability() if torch is not None else None
    return CpuInfo(model.group(1).strip() if model else "", os.cpu_count() or 1,
                   tuple(flag for flag in ISA_FLAGS if flag in flags), capability)


def gpus() -> list[GpuInfo]:
    """CUDA GPUs visible to PyTorch, when PyTorch is already loaded."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return []
    return [current_gpu(index) for index in range(torch.cuda.device_count())]


def hardware_profile() -> dict:
    """What a result records about the machine: {"cpu": {...}, "gpus": [{"name", "compute_capability"}]}."""
    return {"cpu": asdict(cpu_info()), "gpus": [asdict(gpu) for gpu in gpus()]}
