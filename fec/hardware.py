"""The hardware a step runs on, asked in one place: builders record it, runners check against it, and every
verification, benchmark and deployment result carries its profile (CPU model, ISA, cores, measured matrix
product rates per precision, GPUs), so a figure always names the machine it came from."""

from __future__ import annotations

import functools
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from fec.errors import ConfigError, HardwareError
from fec.vocabulary import Precision

MAX_THREADS = 1024  # intra-op threads a runtime may be given (beyond any CPU's cores; one more hangs or crashes it)


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
    try:
        device = torch.device(setting)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device {setting!r}: not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {setting!r}: fec runs on auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {setting!r} asked for, but no CUDA GPU is available")
    return device


# The CPU features that change which kernels run (and so speed and even numerics): what a profile records.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
# Where every reading of this CPU comes from; tests point it at a file describing another CPU kind.
CPUINFO_PATH = Path("/proc/cpuinfo")
# ONEDNN_MAX_CPU_ISA values that keep oneDNN's bf16 kernels (names of oneDNN's cpu_isa_t, any case).
ONEDNN_BF16_ISAS = {"native", "all", "avx512_core_bf16", "avx512_core_fp16", "avx10_1_512", "avx512_core_amx",
                    "avx10_1_512_amx", "avx512_core_amx_fp16", "avx10_1_512_amx_fp16"}


@dataclass(frozen=True)
class CpuInfo:
    model: str
    cores: int
    isa: tuple[str, ...]          # the ISA_FLAGS this CPU has
    aten_capability: str | None   # the kernels PyTorch picked (ATEN_CPU_CAPABILITY can narrow them), when loaded
    onednn_max_isa: str = "native"  # ONEDNN_MAX_CPU_ISA: a limit on oneDNN's kernels (PyTorch's and OpenVINO's)
    ghz: float = 0.0              # the clock /proc/cpuinfo reports (0 where it reports none)

    @property
    def native_bf16(self) -> bool:
        """bf16 arithmetic in hardware (AVX-512 BF16 or AMX) that oneDNN may use: where it is not, bf16 is
        emulated through fp32 and several times slower than fp32 itself."""
        has_bf16 = bool({"avx512_bf16", "amx_bf16"} & set(self.isa))
        return has_bf16 and self.onednn_max_isa.lower() in ONEDNN_BF16_ISAS

    @property
    def vnni(self) -> bool:
        """int8 dot products in one instruction (AVX-512 VNNI or AVX-VNNI): int8 at 4x fp32's rate, not 2x."""
        return bool({"avx512_vnni", "avx_vnni"} & set(self.isa))

    @property
    def vector_unit(self) -> str:
        """The widest fp32 FMA unit: avx512f, avx2 or sse."""
        if "avx512f" in self.isa:
            return "avx512f"
        return "avx2" if {"avx2", "fma"} <= set(self.isa) else "sse"


def cpu_flags(cpuinfo: str) -> set[str]:
    """Every flag of /proc/cpuinfo's first `flags` line."""
    match = re.search(r"^flags\s*:\s*(.*)$", cpuinfo, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def cpu_info(cpuinfo_path: str | Path | None = None) -> CpuInfo:
    """This CPU as /proc/cpuinfo (or CPUINFO_PATH) describes it; empty fields where there is none (not Linux).
    Every decision that depends on the CPU kind (bf16 training, the openvino-bf16 backend, FLOP floors) reads
    this one answer."""
    path = Path(cpuinfo_path or CPUINFO_PATH)
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    model = re.search(r"^model name\s*:\s*(.*)$", text, re.MULTILINE)
    mhz = re.search(r"^cpu MHz\s*:\s*([0-9.]+)", text, re.MULTILINE)
    flags = cpu_flags(text)
    torch = sys.modules.get("torch")  # never imported just for this
    capability = torch.backends.cpu.get_cpu_capability() if torch is not None else None
    return CpuInfo(model.group(1).strip() if model else "", os.cpu_count() or 1,
                   tuple(flag for flag in ISA_FLAGS if flag in flags), capability,
                   os.environ.get("ONEDNN_MAX_CPU_ISA", "native"), round(float(mhz.group(1)) / 1000, 3) if mhz else 0.0)


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (fec.hardware's answer, read by every bf16 decision)."""
    return cpu_info().native_bf16


def gpus() -> list[GpuInfo]:
    """CUDA GPUs visible to PyTorch, when PyTorch is already loaded."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return []
    return [current_gpu(index) for index in range(torch.cuda.device_count())]


def hardware_profile(threads: int | None = None) -> dict:
    """What a result records about the machine: {"cpu": {...}, "gemm_gflops": {precision: rate},
    "gpus": [{"name", "compute_capability"}]}; rates measured with `threads` (default: every core)."""
    return {"cpu": asdict(cpu_info()), "gemm_gflops": gemm_rates(threads or os.cpu_count() or 1),
            "gpus": [asdict(gpu) for gpu in gpus()]}


def kernel_record() -> dict:
    """What a training run records about the kernels it ran on (cheap: nothing is measured): the profile's
    "cpu" and "gpus" without the rates, plus threads and torch. The same seed follows another trajectory on
    other kernels (AVX2 against AVX-512, another oneDNN ISA, another thread count), so a run's figures are
    only comparable with the kernels named beside them."""
    import torch

    return {"cpu": asdict(cpu_info()), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "gpus": [asdict(gpu) for gpu in gpus()]}


def describe_cpu(cpu: dict) -> str:
    """A profile's "cpu" in one line: 'AMD EPYC (avx2, fma), ATen AVX2, oneDNN native'."""
    flags = ", ".join(cpu.get("isa", ())) or "no listed ISA extensions"
    return (f"{cpu.get('model') or 'unknown CPU'} ({flags}), ATen {cpu.get('aten_capability') or '?'}, "
            f"oneDNN {cpu.get('onednn_max_isa', 'native')}")


def describe_kernels(record: dict) -> str:
    """A kernel_record in one line: 'AMD EPYC (avx2, fma), ATen AVX2, oneDNN native, 2 threads'."""
    gpus = "".join(f", GPU {gpu['name']}" for gpu in record["gpus"])
    threads = record["threads"]
    return f"{describe_cpu(record['cpu'])}, {threads} thread{'' if threads == 1 else 's'}{gpus}"


# --------------------------------------------------------------------------- measured arithmetic rates

GEMM_SECONDS = 0.03   # a probe's product is sized to take about this long, so a slow (emulated) precision stays quick
GEMM_SIZES = (128, 256, 512, 1024, 1536)


@functools.lru_cache(maxsize=8)
def gemm_rates(threads: int) -> dict[str, float]:
    """The best matrix-product rate (GFLOP/s, 2 per multiply-add) this CPU reaches in each precision, with
    `threads` threads: fp32, bf16 and fp16 through PyTorch (oneDNN), fp32 and int8 (u8 x s8, the kernels of
    Q/DQ int8 exports) through ONNX Runtime when it is installed. Measured once per process (about a second)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rates = {name: _best_rate(_torch_product(dtype)) for name, dtype in
                 ((Precision.FP32, torch.float32), (Precision.BF16, torch.bfloat16), (Precision.FP16, torch.float16))}
    finally:
        torch.set_num_threads(previous)
    for name, rate in _onnxruntime_rates(threads).items():
        rates[name] = max(rates.get(name, 0.0), rate)
    return {name: round(rate, 1) for name, rate in rates.items()}


def _best_rate(product_of_size) -> float:
    """GFLOP/s of the best of three products, at the largest size whose product stays near GEMM_SECONDS."""
    for size in GEMM_SIZES:
        run = product_of_size(size)
        run()
        best = min(_seconds(run) for _ in range(3))
        if best * 8 > GEMM_SECONDS or size == GEMM_SIZES[-1]:  # the next size (8x the work) would be too slow
            return 2 * size**3 / best / 1e9
    raise AssertionError("unreachable")


def _seconds(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _torch_product(dtype):
    import torch

    def of_size(size: int):
        first, second = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
        return lambda: torch.mm(first, second)

    return of_size


def _onnxruntime_rates(threads: int) -> dict[str, float]:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return {}
    return {Precision.FP32: _best_rate(_onnxruntime_product("MatMul", threads)),
            Precision.INT8: _best_rate(_onnxruntime_product("MatMulInteger", threads))}


def _onnxruntime_product(op: str, threads: int):
    import numpy as np
    import onnxruntime
    from onnx import TensorProto, helper

    types = {"MatMul": (TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.FLOAT),
             "MatMulInteger": (TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32)}[op]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads

    def of_size(size: int):
        tensors = [helper.make_tensor_value_info(name, kind, [size, size]) for name, kind in zip("ABC", types)]
        graph = helper.make_graph([helper.make_node(op, ["A", "B"], ["C"])], "gemm", tensors[:2], tensors[2:])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        feeds = {name: rng.integers(0, 100, (size, size)).astype(helper.tensor_dtype_to_np_dtype(kind))
                 for name, kind in zip("AB", types)}
        return lambda: session.run(None, feeds)

    return of_size
