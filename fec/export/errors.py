"""Typed errors of the export package: each is a user mistake reported as one line by the CLI."""

from fec.errors import FecError


class ExportError(FecError):
    """An export that cannot be made or read as asked (bad option, foreign file, missing tool)."""


class MissingToolError(ExportError):
    """An optional tool (TensorRT, ONNX Runtime, ModelOpt) that this export needs is not installed."""
