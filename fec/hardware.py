"""The hardware a step runs on, asked in one place: builders record it, runners check against it."""

from __future__ import annotations

from dataclasses import dataclass

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
