"""What `amp` (automatic mixed precision) means for a training run on its device, and why.

`auto` picks what was measured to pay without costing accuracy: on a GPU bf16 where it has bf16, else fp16
with a gradient scaler; on a CPU bf16 only where the CPU computes bf16 natively (AVX-512 BF16 or AMX, as
fec.hardware reads it), else fp32. Where bf16 is emulated (an AVX2-only CPU) autocast was 7-8x slower than
fp32. Where it is native (a Zen 4, 2026-12-07) bf16 autocast trained the demo recipe 1.46x faster than fp32
(2405-2448 against 1652-1674 images/s, 2 threads) and its ten seeds kept the recipe's bar (worst 86.7%,
mean 87.7%; the bar: worst >= 85%, mean >= 87%).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fec.errors import ConfigError
from fec.hardware import native_bf16
from fec.vocabulary import Precision

NATIVE_CPU_BF16 = ("the CPU computes bf16 natively (AVX-512 BF16 or AMX): 1.46x fp32 on a Zen 4, "
                   "ten demo seeds kept the bar (worst 86.7%, mean 87.7%)")
EMULATED_CPU_BF16 = "this CPU has no native bf16 (emulated bf16 ran 7-8x slower than fp32 on an AVX2 CPU)"
DTYPE_NAMES = {None: Precision.FP32, torch.bfloat16: Precision.BF16, torch.float16: Precision.FP16}


@dataclass(frozen=True)
class AmpChoice:
    setting: str                 # the config's amp: auto, off, bf16, fp16
    dtype: torch.dtype | None    # the autocast dtype; None trains in fp32
    why: str

    @property
    def name(self) -> str:
        return DTYPE_NAMES[self.dtype]

    def describe(self) -> str:
        """'amp auto -> bf16 (the CPU computes bf16 natively ...)'."""
        return f"amp {self.setting} -> {self.name} ({self.why})"

    def to_dict(self) -> dict:
        return {"setting": self.setting, "dtype": self.name, "why": self.why}


def choose_amp(setting: str, device: torch.device) -> AmpChoice:
    """The autocast dtype `setting` means on `device`; fp16 on a CPU is a ConfigError."""
    if setting == "off":
        return AmpChoice(setting, None, "asked for")
    if setting == "auto":
        return _auto(device)
    if setting == Precision.FP16 and device.type == "cpu":
        raise ConfigError("amp=fp16 needs a CUDA GPU; use amp=bf16 or amp=off on CPU")
    return AmpChoice(setting, torch.float16 if setting == Precision.FP16 else torch.bfloat16, "asked for")


def _auto(device: torch.device) -> AmpChoice:
    if device.type == "cpu":
        return AmpChoice("auto", torch.bfloat16, NATIVE_CPU_BF16) if native_bf16() else AmpChoice("auto", None, EMULATED_CPU_BF16)
    if torch.cuda.is_bf16_supported():
        return AmpChoice("auto", torch.bfloat16, "the GPU computes bf16")
    return AmpChoice("auto", torch.float16, "the GPU has no bf16; fp16 with a gradient scaler")
