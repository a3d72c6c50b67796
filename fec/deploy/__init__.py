"""fec-deploy: the fastest deployment of a checkpoint that keeps its accuracy, chosen by measurement on this
machine (candidates, exports, verification, timing, choice, report, Triton repository). The names below load
on first use, so that `fec-deploy --help` (which reads fec.deploy.options) loads no torch."""

from __future__ import annotations

import importlib

_EXPORTED = {"DeployOptions": "fec.deploy.options", "DeployResult": "fec.deploy.deployment", "deploy": "fec.deploy.deployment"}
__all__ = sorted(_EXPORTED)


def __getattr__(name: str):
    if name not in _EXPORTED:
        raise AttributeError(f"module 'fec.deploy' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTED[name]), name)
