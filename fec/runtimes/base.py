"""The Runner interface and its registry.

A runner turns a float32 NCHW batch, already normalised by the model's `Preprocessing`, into (N, D)
float32 embeddings; a runner whose `input_format` is `uint8-nhwc` (an export with baked
preprocessing) takes raw RGB bytes instead (layouts: fec.artifacts). `infer` validates the feed
before `infer_impl` does the work, so every backend rejects a wrong dtype or shape the same way.

    @register_runner("onnxruntime")
    class OnnxRuntimeRunner(Runner): ...

    runner = create_runner("onnxruntime", target=path, provider="cpu")
    with runner:
        embeddings = runner.infer(batch)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fec.artifacts import FLOAT32_NCHW, UINT8_NHWC
from fec.errors import FecError


class RunnerError(FecError):
    """A runner cannot be created or fed as asked (missing backend, bad input, incompatible engine)."""


def last_line(error: BaseException, limit: int = 400) -> str:
    """The line of a library's (often multi-line) message that says what went wrong, its middle cut when long."""
    line = (str(error).strip().splitlines() or [type(error).__name__])[-1].strip()
    return line if len(line) <= limit else f"{line[:limit // 3]} ... {line[-(2 * limit) // 3:]}"


class Runner:
    """activate() -> infer(batch) ... -> deactivate(); usable as a context manager."""

    name: str = "runner"
    input_size: int = 0          # expected square H = W, 0 when any size works
    input_format: str = FLOAT32_NCHW  # the layout infer() takes (fec.artifacts.INPUT_LAYOUTS)
    max_batch: int | None = None
    cuda_device: int | None = None       # the CUDA device it computes on (benchmarks synchronise it), None: host only
    # its device memory comes from PyTorch's allocator (torch.cuda.max_memory_allocated sees it)
    cuda_memory_tracked: bool = False

    def activate(self) -> None:
        """Load the model / create sessions. Called once before the first infer."""

    def deactivate(self) -> None:
        """Release what activate() took."""

    def describe(self) -> dict:
        """What really ran: backend, device, provider, precision (for reports)."""
        return {"runner": self.name}

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self._check_feed(batch)
        try:
            return np.asarray(self.infer_impl(batch), dtype=np.float32)
        except self.inference_errors() as exc:
            raise RunnerError(f"{self.name}: inference failed: {last_line(exc)}") from None

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def inference_errors(self) -> tuple[type[BaseException], ...]:
        """The library's own exceptions for a model that loads but cannot run here (a kernel this CPU or
        ISA limit lacks, a provider failing mid-run): infer() turns them into one-line RunnerErrors, so a
        verification or deployment reports that backend as failed and goes on with the others."""
        return ()

    def _check_feed(self, batch: np.ndarray) -> None:
        if self.input_format == UINT8_NHWC:
            return self._check_uint8_feed(batch)
        if not isinstance(batch, np.ndarray) or batch.dtype != np.float32:
            raise RunnerError(f"{self.name}: input must be a float32 numpy array, got {getattr(batch, 'dtype', type(batch))}")
        if batch.ndim != 4 or batch.shape[1] != 3 or batch.shape[0] == 0:
            raise RunnerError(f"{self.name}: input must have shape (N>0, 3, H, W), got {batch.shape}")
        if self.input_size and batch.shape[2:] != (self.input_size, self.input_size):
            raise RunnerError(f"{self.name}: input must be {self.input_size}x{self.input_size}, "
                              f"got {batch.shape[2]}x{batch.shape[3]}")
        self._check_batch_size(batch)

    def _check_uint8_feed(self, batch: np.ndarray) -> None:
        """A model with baked preprocessing takes raw RGB bytes: uint8 (N, H, W, 3)."""
        if not isinstance(batch, np.ndarray) or batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[3] != 3:
            raise RunnerError(f"{self.name}: this model takes uint8 RGB batches (N, H, W, 3), got "
                              f"{getattr(batch, 'dtype', type(batch))} {getattr(batch, 'shape', '')}")
        if self.input_size and batch.shape[1:3] != (self.input_size, self.input_size):
            raise RunnerError(f"{self.name}: input must be {self.input_size}x{self.input_size}, "
                              f"got {batch.shape[1]}x{batch.shape[2]}")
        self._check_batch_size(batch)

    def _check_batch_size(self, batch: np.ndarray) -> None:
        if self.max_batch is not None and batch.shape[0] > self.max_batch:
            raise RunnerError(f"{self.name}: batch {batch.shape[0]} exceeds the maximum {self.max_batch}")

    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(self, *exc) -> None:
        self.deactivate()


_RUNNERS: dict[str, Callable[..., Runner]] = {}


def register_runner(name: str):
    def wrap(factory: Callable[..., Runner]) -> Callable[..., Runner]:
        if name in _RUNNERS:
            raise ValueError(f"runner {name!r} is registered twice")
        _RUNNERS[name] = factory
        return factory

    return wrap


def list_runners() -> list[str]:
    _import_builtin_runners()
    return sorted(_RUNNERS)


def create_runner(name: str, **options) -> Runner:
    _import_builtin_runners()
    if name not in _RUNNERS:
        raise RunnerError(f"unknown runner {name!r}; available: {', '.join(sorted(_RUNNERS))}")
    return _RUNNERS[name](**options)


def _import_builtin_runners() -> None:
    """Import the runner modules that ship with fec (each registers itself)."""
    import importlib
    import pkgutil

    import fec.runtimes as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "base":
            importlib.import_module(f"fec.runtimes.{module.name}")
