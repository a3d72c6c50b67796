"""Triton client runner: a normalised float32 NCHW batch -> embeddings from a model on a running server.

It talks to an embedding model (`<name>_trt`, `<name>_onnx` or `<name>_ort_python`, the first one
ready unless `model` is given), not the ensemble, so verification compares the same model input
across PyTorch, ONNX Runtime, TensorRT and the server. Batches above the model's max_batch_size are
sent in pieces.
"""

from __future__ import annotations

import numpy as np

from fec.errors import ServingError
from fec.runtimes.base import Runner, RunnerError, register_runner
from fec.runtimes.triton_client import CLIENT_TIMEOUT_S, DEFAULT_ENSEMBLE, EMBEDDING_KINDS, TritonClient, model_name


@register_runner("triton")
class TritonRunner(Runner):
    name = "triton"

    def __init__(self, url: str = "127.0.0.1:8000", protocol: str = "http", model: str | None = None,
                 name: str = DEFAULT_ENSEMBLE, timeout: float = CLIENT_TIMEOUT_S):
        self.url, self.protocol, self.model, self.base_name, self.timeout = url, protocol, model, name, timeout
        self.client = None
        self.input_name = self.output_name = ""
        self.request_batch = 1

    def activate(self) -> None:
        try:
            self.client = TritonClient(self.url, self.protocol, self.timeout)
            self.model = self.model or self._first_ready_model()
            config = self.client.model_config(self.model)
        except ServingError as exc:
            raise RunnerError(f"triton: {exc}") from None
        source, target = config["input"][0], config["output"][0]
        self.input_name, self.output_name = source["name"], target["name"]
        dims = [int(dim) for dim in source["dims"]]
        self.input_size = dims[1] if len(dims) == 3 else 0
        self.request_batch = max(1, int(config.get("max_batch_size", 0)))

    def _first_ready_model(self) -> str:
        candidates = [model_name(self.base_name, kind) for kind in EMBEDDING_KINDS]
        for candidate in candidates:
            if self.client.model_ready(candidate):
                return candidate
        raise RunnerError(f"triton: none of {candidates} is ready at {self.url}; start one with fec-serve")

    def deactivate(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def describe(self) -> dict:
        return {"runner": self.name, "url": self.url, "protocol": self.protocol, "model": self.model}

    def infer_impl(self, batch: np.ndarray) -> np.ndarray:
        pieces = []
        try:
            for start in range(0, len(batch), self.request_batch):
                piece = np.ascontiguousarray(batch[start:start + self.request_batch])
                pieces.append(self.client.infer(self.model, {self.input_name: piece}, [self.output_name])[self.output_name])
        except ServingError as exc:
            raise RunnerError(f"triton: {exc}") from None
        return np.concatenate(pieces)
