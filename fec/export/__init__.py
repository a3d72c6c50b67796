"""Export checkpoints to deployable artifacts: ONNX (fp32/fp16/int8) and TensorRT engines.

    from fec.export import ExportRequest, export_model
    result = export_model("runs/latest/best.pt", "onnx", ExportRequest(precision="fp16"))

Each export folder holds the artifact(s) and a `manifest.json`; `fec.verify` proves them against
the PyTorch model on real test faces.
"""

from fec.export.errors import ExportError, MissingToolError
from fec.export.pipeline import ExportResult, export_model
from fec.export.registry import EngineOptions, ExportRequest, get_format, list_formats, register_format

__all__ = ["EngineOptions", "ExportError", "ExportRequest", "ExportResult", "MissingToolError", "export_model",
           "get_format", "list_formats", "register_format"]
