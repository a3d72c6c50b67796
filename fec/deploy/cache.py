"""What a rerun of fec-deploy may reuse: exports and their verifications, keyed by the sha256 of what made them.

An export is reused when its key (the checkpoint's sha256, the export's spec, the calibration CSV's
sha256 for int8, fec's version) matches the one recorded when it was written and its files still
match their manifest (fec-export's trust check). A verification is reused when its key (the export's
key, the backend, the test CSV's sha256) matches. Timings are never reused: speed is what a rerun
measures again. The index is `cache.json` in the deployment folder, written atomically; an unreadable
one, or an entry of the wrong shape, is ignored (made again), never trusted.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from fec import __version__
from fec.errors import FecError
from fec.io import write_json

INDEX = "cache.json"
DEPLOY_CACHE_SCHEMA = "fec-deploy-cache/1"


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
        if not isinstance(payload, dict) or payload.get("format") != DEPLOY_CACHE_SCHEMA:
            return {}
        if not isinstance(payload.get("entries"), dict):
            return {}
        return {name: entry for name, entry in payload["entries"].items()
                if isinstance(entry, dict) and isinstance(entry.get("key"), str)}

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

    def verification(self, name: str, key: str, fields: dict[str, type] | None = None) -> dict | None:
        """The recorded result of verification `key` when it has the shape a verification writes (`fields`: each
        name's type; None: any names, each a number); None when it must run again."""
        entry = self.entries.get(f"verify/{name}", {})
        result = entry.get("result")
        if entry.get("key") != key or not isinstance(result, dict):
            return None
        shape = fields if fields is not None else dict.fromkeys(result, float)
        return result if all(fits(result.get(field), kind) for field, kind in shape.items()) else None

    def remember_export(self, name: str, key: str) -> None:
        self.entries[f"export/{name}"] = {"key": key}
        self.save()

    def remember_verification(self, name: str, key: str, result: dict) -> None:
        self.entries[f"verify/{name}"] = {"key": key, "result": result}
        self.save()

    def save(self) -> None:
        write_json(self.path, {"format": DEPLOY_CACHE_SCHEMA, "entries": self.entries})


def fits(value, kind: type) -> bool:
    """`value` is a `kind` as JSON gives it back: text, or a finite number (an int counts as a float; a bool
    counts as neither)."""
    if kind is str:
        return isinstance(value, str)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and (kind is float or isinstance(value, int))
