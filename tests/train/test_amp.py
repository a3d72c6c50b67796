"""What `amp` means on each device and CPU kind, and the kernels line and machine record that say so."""

from __future__ import annotations

import json

import pytest
import torch

from fec.errors import ConfigError
from fec.train.amp import EMULATED_CPU_BF16, NATIVE_CPU_BF16, choose_amp

CPU = torch.device("cpu")


def test_auto_is_bf16_exactly_where_the_cpu_computes_bf16_natively(cpu_kind):
    choice = choose_amp("auto", CPU)
    if cpu_kind.native_bf16:
        assert (choice.dtype, choice.name, choice.why) == (torch.bfloat16, "bf16", NATIVE_CPU_BF16)
    else:
        assert (choice.dtype, choice.name, choice.why) == (None, "fp32", EMULATED_CPU_BF16)
    assert choice.describe() == f"amp auto -> {choice.name} ({choice.why})"
    assert choice.to_dict() == {"setting": "auto", "dtype": choice.name, "why": choice.why}


@pytest.mark.parametrize("setting, dtype", [("off", None), ("bf16", torch.bfloat16)])
def test_an_explicit_setting_is_taken_on_every_cpu_kind(cpu_kind, setting, dtype):
    assert (choose_amp(setting, CPU).dtype, choose_amp(setting, CPU).why) == (dtype, "asked for")


def test_fp16_on_a_cpu_is_one_line():
    with pytest.raises(ConfigError, match=r"^amp=fp16 needs a CUDA GPU; use amp=bf16 or amp=off on CPU$"):
        choose_amp("fp16", CPU)


def test_a_run_says_and_records_what_auto_chose(cpu_kind, tiny_synth, tmp_path, capsys):
    from helpers import tiny_overrides

    from fec.train.config import load_config
    from fec.train.trainer import Trainer

    config = load_config(None, tiny_overrides(tiny_synth, max_steps=1, amp="auto", eval_every=1, checkpoint_every=1))
    trainer = Trainer(config, tmp_path / "run")
    trainer.fit()
    expected = "bf16" if cpu_kind.native_bf16 else "fp32"
    record = json.loads((tmp_path / "run" / "machine.jsonl").read_text().splitlines()[0])
    assert record["amp"] == {"setting": "auto", "dtype": expected, "why": trainer.amp.why}
    assert record["cpu"]["isa"] == list(cpu_kind.isa)
    kernels_line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("kernels: "))
    assert kernels_line.endswith(f"; amp auto -> {expected} ({trainer.amp.why})")
