"""Runners: one small interface over every way of computing embeddings (PyTorch, ONNX Runtime, TensorRT, Triton).

Each runner is one module that registers a factory with `register_runner`; verification and
benchmarking only ever talk to `Runner`. `backends.py` names the ways to run them (a runner with fixed
options: `onnxruntime-cuda`, `tensorrt-graphs`), shared by fec-bench and fec-verify.
"""

from fec.runtimes.base import Runner, create_runner, list_runners, register_runner

__all__ = ["Runner", "create_runner", "list_runners", "register_runner"]
