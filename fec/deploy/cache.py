"""What a rerun of fec-deploy may reuse: exports and their verifications, keyed by the sha256 of what made them.

An export is reused when its key (the checkpoint's sha256, the export's spec, the calibration CSV's
sha256 for int8, fec's version) matches the one recorded when it was written and its files still
match their manifest (fec-export's trust check). A verification is reused when its key (the export's
key, the backend, the test CSV's sha256) matches. Timings are never reused: speed is what a rerun
measures again. The index is `cache.json` in the deployment folder, written atomically; an unreadable
one is ignored (everything is made again), never trusted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fec import __version__
from fec.errors import FecError
from fec.io import write_json

INDEX = "cache.json"
FORMAT = "fec-deploy-cache/1"


def key_of(**parts) -> str:
    """A sha256 over the parts as canonical JSON (and fec's version: a new fec makes everything again)."""
    text = json.dumps({**parts, "fec": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class DeployCache:
    def __init__(self, folder: Path):
        self.path = folder / INDEX
        self.entries = self._read()

    def _read(self) -> dict:
        try:
            payload = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(payload, dict) or payload.get("format") != FORMAT or not isinstance(payload.get("entries"), dict):
            return {}
        return payload["entries"]

    def export_folder(self, name: str, key: str, folder: Path) -> Path | None:
        """`folder` when it holds the export `key` names, untouched since; None when it must be made."""
        if self.entries.get(f"export/{name}", {}).get("key") != key or not folder.is_dir():
            return None
        from fec.export.onnx_export import trusted_export

        try:
            trusted_export(folder)
        except FecError:
            return None
        return folder

    def verification(self, name: str, key: str) -> dict | None:
        entry = self.entries.get(f"verify/{name}", {})
        return entry.get("result") if entry.get("key") == key else None

    def remember_export(self, name: str, key: str) -> None:
        self.entries[f"export/{name}"] = {"key": key}
        self.save()

    def remember_verification(self, name: str, key: str, result: dict) -> None:
        self.entries[f"verify/{name}"] = {"key": key, "result": result}
        self.save()

    def save(self) -> None:
        write_json(self.path, {"format": FORMAT, "entries": self.entries})
