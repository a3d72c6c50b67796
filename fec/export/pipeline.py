"""One export end to end: check the tool, read the source, run the format, write the manifest.

The folder is assembled under a temporary name beside its destination and renamed into place only
when everything (files and manifest) is written, so an interrupted export never leaves a folder that
looks complete. Re-exporting into an existing export folder replaces it; any other existing folder (one
with a foreign manifest.json, or with files its manifest does not list) is refused and left alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fec.artifacts import package_versions, utc_now
from fec.export.errors import ExportError
from fec.export.manifest import EXPORT_MANIFEST_SCHEMA, MANIFEST_NAME, read_manifest, write_manifest
from fec.export.registry import ExportRequest, FormatOutcome, get_format
from fec.export.source import ExportSource, load_source
from fec.io import atomic_folder
from fec.vocabulary import Precision

DEFAULT_ROOT = Path("export")


@dataclass
class ExportResult:
    folder: Path
    manifest: dict

    def summary(self) -> str:
        files = ", ".join(f"{entry['path']} ({entry['bytes'] / 1e6:.1f} MB)" for entry in self.manifest["files"])
        target = f" for {self.manifest['int8_target']}" if self.manifest.get("int8_target") else ""
        return f"wrote {self.folder}: {files}; {self.manifest['precision']}{target}"


def export_model(source_path: str | Path, fmt: str, request: ExportRequest | None = None,
                 out: str | Path | None = None) -> ExportResult:
    """Export a checkpoint (or an fec fp32 ONNX file) to `fmt`; return the folder and its manifest."""
    exporter = get_format(fmt)
    exporter.check_available()
    source = load_source(source_path)
    request = exporter.resolve(with_source_defaults(request or ExportRequest(), source))
    request.validate()
    folder = Path(out) if out is not None else default_folder(source, fmt, request)
    with staging(folder) as scratch:
        outcome = exporter.export(source, request, scratch, destination=folder)
        manifest = build_manifest(source, fmt, request, outcome)
        write_manifest(scratch, manifest)
    return ExportResult(folder, manifest)


def with_source_defaults(request: ExportRequest, source: ExportSource) -> ExportRequest:
    """Unset precision/target follow a source ONNX file (building an engine from it), else fp32."""
    if request.precision is not None:
        return request
    if source.onnx is None:
        return dataclasses.replace(request, precision=Precision.FP32)
    return dataclasses.replace(request, precision=source.onnx.precision, target=request.target or source.onnx.int8_target)


def default_folder(source: ExportSource, fmt: str, request: ExportRequest) -> Path:
    """export/<model>-<format>-<precision>[-<int8 target>][-uint8in]"""
    parts = [source.model_name, fmt, request.precision]
    if request.precision == Precision.INT8 and fmt == "onnx":
        parts.append(request.target)
    if request.bake_preprocessing:
        parts.append("uint8in")
    return DEFAULT_ROOT / "-".join(parts)


@contextlib.contextmanager
def staging(folder: Path) -> Iterator[Path]:
    """Yield an empty scratch folder that replaces `folder` only if the block succeeds."""
    refusal = replace_refusal(folder)
    if refusal:
        raise ExportError(f"{folder}: {refusal}; choose another --out")
    with atomic_folder(folder) as scratch:
        yield scratch


def replace_refusal(folder: Path) -> str | None:
    """Why an export must not replace `folder`, or None: only an empty folder or an fec export holding nothing
    but its manifest and the files it lists may go (a manifest.json alone is not enough: other tools write one)."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        return "exists and is not an export folder"
    names = {path.name for path in folder.iterdir()}
    if not names:
        return None
    try:
        manifest = read_manifest(folder)
    except ExportError:
        return f"exists and is not an export folder (no valid {MANIFEST_NAME} with the '{EXPORT_MANIFEST_SCHEMA}' tag)"
    unlisted = sorted(names - {MANIFEST_NAME} - {PurePosixPath(entry["path"]).parts[0] for entry in manifest.get("files", [])})
    if unlisted:
        return f"exists and is not an export folder: it also holds {', '.join(unlisted[:3])}, which its manifest does not list"
    return None


def build_manifest(source: ExportSource, fmt: str, request: ExportRequest, outcome: FormatOutcome) -> dict:
    details = dict(outcome.details)
    return {
        "format": EXPORT_MANIFEST_SCHEMA,
        "created": utc_now(),
        "export_format": fmt,
        "precision": request.precision,
        "int8_target": request.target if request.precision == Precision.INT8 else None,
        "model": source.model_config,
        "preprocessing": source.preprocessing.to_dict(),
        "input_format": details.pop("input_format"),
        "io": details.pop("io"),
        "batch": {"min": 1, "opt": request.opt_batch, "max": request.max_batch},
        "source": {"kind": "onnx" if source.onnx is not None else "checkpoint", "path": str(source.path.resolve()),
                   **source.provenance},
        "files": [entry.to_dict() for entry in outcome.files],
        "versions": package_versions(),
        "request": _jsonable(dataclasses.asdict(request)),
        "details": details,
        "verification": None,
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return str(value) if isinstance(value, Path) else value
