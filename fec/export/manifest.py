"""`manifest.json`: what an export folder holds, how it was made, and how it verified.

Every export folder has one: the files with their sha256, the library versions that made them, the
model's input/output shapes, precision and preprocessing, where the weights came from, and (once
`fec-verify` has run) the verification result. Readers check file hashes against it, so a replaced
or truncated artifact is caught before it is used.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from fec.export.errors import ExportError
from fec.io import read_json, write_json

MANIFEST_NAME = "manifest.json"
EXPORT_MANIFEST_SCHEMA = "fec-export/1"


@dataclass(frozen=True)
class ArtifactFile:
    """One file of an export, relative to the folder."""

    path: str
    role: str  # "onnx", "engine", "engine-sidecar"
    sha256: str
    bytes: int

    @classmethod
    def describe(cls, folder: Path, name: str, role: str) -> ArtifactFile:
        path = folder / name
        return cls(name, role, sha256_file(path), path.stat().st_size)

    def to_dict(self) -> dict:
        return asdict(self)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, manifest: dict) -> Path:
    path = Path(folder) / MANIFEST_NAME
    write_json(path, manifest)
    return path


def read_manifest(folder: str | Path) -> dict:
    """The manifest of an export folder, or ExportError saying why it is not one."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise ExportError(f"{folder}: export folder not found")
    if not path.is_file():
        raise ExportError(f"{folder}: not an export folder (no {MANIFEST_NAME}); make one with fec-export")
    manifest = read_json(path, ExportError, "manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_MANIFEST_SCHEMA:
        raise ExportError(f"{path}: not an fec export manifest (no '{EXPORT_MANIFEST_SCHEMA}' tag)")
    problem = sections_problem(manifest) or file_entries_problem(manifest.get("files", []))
    if problem:
        raise ExportError(f"{path}: {problem}; re-run fec-export")
    return manifest


# The manifest's sections that fec-export writes as mappings (verification: null until fec-verify records one).
MAPPING_SECTIONS = ("model", "preprocessing", "io", "batch", "source", "versions", "request", "details", "verification")


def sections_problem(manifest: dict) -> str | None:
    """The first section that is not a mapping, or None; a missing one is left to the reader that needs it."""
    for key in MAPPING_SECTIONS:
        value = manifest.get(key)
        if value is not None and not isinstance(value, dict):
            return f"'{key}' is {type(value).__name__}, not a mapping"
    return None


def file_entries_problem(entries) -> str | None:
    """What is wrong with a manifest's `files` list, or None: each entry names a file inside the folder."""
    if not isinstance(entries, list):
        return "'files' is not a list"
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not all(isinstance(entry.get(key), str) for key in ("path", "role", "sha256")):
            return f"files[{index}] lacks a path, role or sha256"
        size = entry.get("bytes", 0)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return f"files[{index}] bytes {str(size)[:40]!r} is not a whole number >= 0"
        relative = PurePosixPath(entry["path"])
        if relative.is_absolute() or ".." in relative.parts or "\\" in entry["path"] or not relative.parts:
            return f"files[{index}] path {entry['path']!r} is not inside the export folder"
    return None


def artifact(manifest: dict, role: str) -> dict | None:
    """The manifest entry of the first file with `role`, or None."""
    return next((entry for entry in manifest.get("files", []) if entry["role"] == role), None)


def check_files(folder: str | Path, manifest: dict) -> None:
    """Raise ExportError when a listed file is missing, a link leading out of the folder, or differs from its
    recorded sha256."""
    folder = Path(folder)
    root = folder.resolve()
    for entry in manifest.get("files", []):
        path = folder / entry["path"]
        real = _real_path(path)
        if real is None or not real.is_relative_to(root):
            raise ExportError(f"{path}: a link leading outside the export folder ({real or 'a loop'}); "
                              "an export holds its own files, re-run fec-export")
        if not path.is_file():
            raise ExportError(f"{path}: listed in {MANIFEST_NAME} but missing; re-run fec-export")
        if sha256_file(path) != entry["sha256"]:
            raise ExportError(f"{path}: differs from the file fec-export wrote (sha256 mismatch); re-run fec-export")


def _real_path(path: Path) -> Path | None:
    """Where `path` leads once every link is followed; None for a link loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # Python 3.11 raises RuntimeError for a loop, later ones OSError
        return None


def record_verification(folder: str | Path, result: dict) -> None:
    """Store a verification result in the folder's manifest (replacing an earlier one)."""
    manifest = read_manifest(folder)
    manifest["verification"] = result
    write_manifest(Path(folder), manifest)
