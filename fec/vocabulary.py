"""The words every stage shares, typed: what a model computes in (`Precision`) and what a backend loads
(`ArtifactKind`). Both are StrEnums: a member equals its plain word, prints as it, and JSON, manifests and
command-line choices keep the plain words (`Precision("int8") is Precision.INT8`)."""

from __future__ import annotations

from enum import StrEnum


class Precision(StrEnum):
    """What a model computes in (an export's precision, or a backend's own on an fp32 export)."""

    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    INT8 = "int8"


class ArtifactKind(StrEnum):
    """What a backend loads: a checkpoint, an export folder's ONNX file or TensorRT engine (the file's manifest
    role), or a model on a running Triton server."""

    CHECKPOINT = "checkpoint"
    ONNX = "onnx"
    ENGINE = "engine"
    SERVER_HTTP = "server-http"
    SERVER_GRPC = "server-grpc"

    @property
    def is_server(self) -> bool:
        return self in (ArtifactKind.SERVER_HTTP, ArtifactKind.SERVER_GRPC)
