"""How fast a model could possibly run here: its FLOPs over the machine's peak rate, the "FLOP floor".

    floor (ms per batch) = model FLOPs per image x batch / peak FLOP/s

Two peaks are given: the nominal one from the processor (cores x clock x FLOPs per cycle from its
vector units: AVX-512 FMA 64, AVX2 FMA 32 fp32 FLOPs per cycle and core; int8 twice that, four times
with VNNI) and the measured ones: the best matrix-product rate in each precision with the same thread
count (fec.hardware.gemm_rates: PyTorch and ONNX Runtime kernels), which is what well-tuned kernels
actually reach. A row's measured floor uses the fastest arithmetic its precision allows: its own
precision's rate or fp32's, whichever is higher (a backend may always compute a reduced-precision
layer in fp32; int8 exports keep some layers float). A measured latency divided by its floor says how
much of the machine a backend leaves unused; a row under 1.0 beats every product the probe found and
is flagged, since the floor is then no floor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from fec.bench.errors import BenchError
from fec.hardware import CpuInfo, cpu_info, gemm_rates
from fec.vocabulary import Precision

FP32_FLOPS_PER_CYCLE = {"avx512f": 64, "avx2": 32, "sse": 8}


@dataclass(frozen=True)
class MachinePeak:
    cores: int
    ghz: float
    vector_unit: str
    nominal_gflops: float        # fp32
    int8_factor: float           # nominal int8 rate / fp32 rate
    measured: dict[str, float]   # precision -> best measured matrix-product GFLOP/s (fec.hardware.gemm_rates)

    @property
    def measured_gflops(self) -> float:
        return self.measured[Precision.FP32]

    def floor_gflops(self, precision: str) -> float:
        """The measured rate a row of this precision is held to: its own precision's or fp32's, the higher."""
        return max(self.measured.get(precision, 0.0), self.measured[Precision.FP32])

    def to_dict(self) -> dict:
        return {**asdict(self), "measured_gflops": self.measured_gflops}


def model_flops(model: torch.nn.Module, input_size: int) -> int:
    """FLOPs (2 x multiply-adds) of one image's forward pass, counted by PyTorch's FlopCounterMode."""
    model = model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, 3, input_size, input_size))
    return int(counter.get_total_flops())


def machine_peak(threads: int | None = None, cpu: CpuInfo | None = None) -> MachinePeak:
    """The nominal and measured peaks with `threads` threads (default: every core) of `cpu` (default: this one,
    as fec.hardware reads it)."""
    cpu = cpu or cpu_info()
    cores = threads or cpu.cores
    unit = cpu.vector_unit
    int8_factor = 4.0 if cpu.vnni else 2.0
    return MachinePeak(cores, cpu.ghz, unit, cores * cpu.ghz * FP32_FLOPS_PER_CYCLE[unit], int8_factor, gemm_rates(cores))


def floor_ms(flops_per_image: int, batch: int, gflops: float) -> float:
    """Milliseconds for `batch` images at `gflops` GFLOP/s."""
    return flops_per_image * batch / (gflops * 1e9) * 1e3


def model_config_of(target: str) -> dict:
    """The model entry ({name, embedding_dim, input_size, ...}) of a checkpoint or an export folder."""
    path = Path(target)
    if not path.exists():
        raise BenchError(f"{target}: this report's target is gone (no such checkpoint or export folder); "
                         "the floor needs its model: run fec-bench floor where the report was made")
    if path.is_file():
        from fec.models.checkpoint import read_checkpoint

        return read_checkpoint(path)["model"]
    from fec.export.manifest import read_manifest

    return read_manifest(path)["model"]


def config_flops(config: dict) -> int:
    from fec.models import create_model

    options = {k: v for k, v in config.items() if k not in ("name", "embedding_dim", "input_size")}
    model = create_model(config["name"], config.get("embedding_dim", 16), input_size=config["input_size"], **options)
    return model_flops(model, config["input_size"])


def runs_on_cpu(row: dict) -> bool:
    """PyTorch rows say `cpu`, ONNX Runtime rows their provider; served models are not this machine's."""
    device = str(row.get("device", "cpu")).lower()
    return device in ("cpu", "cpuexecutionprovider") and not row["target"].startswith(("http://", "grpc://"))


def floor_rows(report: dict, peak: MachinePeak) -> list[dict]:
    """Each compute-only CPU row of a fec-bench report with its model's FLOPs, its floors and p50 / floor
    (end-to-end rows also decode and preprocess: the FLOP floor of the model does not bound them)."""
    flops_by_target: dict[str, int] = {}
    rows = []
    for row in report["rows"]:
        if not runs_on_cpu(row) or row.get("mode", "compute") != "compute":
            continue
        if row["target"] not in flops_by_target:
            flops_by_target[row["target"]] = config_flops(model_config_of(row["target"]))
        flops = flops_by_target[row["target"]]
        factor = peak.int8_factor if row["precision"] == Precision.INT8 else 1.0
        nominal = floor_ms(flops, row["batch"], peak.nominal_gflops * factor)
        measured = floor_ms(flops, row["batch"], peak.floor_gflops(row["precision"]))
        rows.append({"target": row["target"], "backend": row["backend"], "precision": row["precision"],
                     "batch": row["batch"], "mflops_per_image": round(flops / 1e6, 2), "p50_ms": row["p50_ms"],
                     "floor_ms_nominal": round(nominal, 3), "floor_ms_measured_gemm": round(measured, 3),
                     "x_nominal_floor": round(row["p50_ms"] / nominal, 2),
                     "x_measured_floor": round(row["p50_ms"] / measured, 2),
                     "beats_measured_floor": row["p50_ms"] < measured})
    return rows
