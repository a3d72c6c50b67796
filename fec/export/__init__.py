"""Export checkpoints to deployable artifacts: ONNX (fp32/fp16/int8) and TensorRT engines.

    from fec.export import ExportRequest, export_model
    result = export_model("runs/latest/best.pt", "onnx", ExportRequest(precision="fp16"))

Each export folder holds the artifact(s) and a `manifest.json`; `fec.verify` proves them against
the PyTorch model on real test faces. The names below load on first use, so that importing
`fec.export.registry` (what `fec-export --help` needs) loads no torch.
"""

from __future__ import annotations

import importlib

_EXPORTED = {
    "ExportError": "fec.export.errors", "MissingToolError": "fec.export.errors",
    "ExportResult": "fec.export.pipeline", "export_model": "fec.export.pipeline",
    "EngineOptions": "fec.export.registry", "ExportRequest": "fec.export.registry", "get_format": "fec.export.registry",
    "list_formats": "fec.export.registry", "register_format": "fec.export.registry",
}
__all__ = sorted(_EXPORTED)


def __getattr__(name: str):
    if name not in _EXPORTED:
        raise AttributeError(f"module 'fec.export' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTED[name]), name)
