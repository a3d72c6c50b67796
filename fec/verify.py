"""Prove exported artifacts against the PyTorch model they came from, on real test faces.

The reference (the checkpoint on PyTorch, fp32) and every artifact embed the same unique faces of a
triplet CSV; each artifact is then judged by the numbers that matter for an embedding model:
max |error| and min cosine similarity of the embeddings, NaN/Inf count, triplet accuracy per type,
its delta against PyTorch, and the share of triplet decisions that flip. Tolerances depend on the
precision and can be overridden; NaN/Inf always fails. The accuracy delta is judged by its absolute
value: an export is proven when it agrees with PyTorch, not when it happens to score higher.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fec.artifacts import UINT8_NHWC
from fec.data.dataset import FaceCrops, TripletDataset, load_triplets, triplet_csv
from fec.data.triplets import TRIPLET_TYPES
from fec.evaluate import Evaluation, checkpoint_faces, embed_faces, score_embeddings
from fec.export.errors import ExportError
from fec.export.manifest import MANIFEST_NAME, artifact, record_verification, sha256_file
from fec.export.onnx_export import trusted_export
from fec.hardware import hardware_profile
from fec.metrics import OVERALL
from fec.preprocessing import Preprocessing, normalize_uint8
from fec.runtimes import Runner, create_runner
from fec.runtimes.backends import EXPORT_KINDS, backend_names, export_backends, get_backend
from fec.runtimes.base import RunnerError
from fec.runtimes.onnxruntime_runner import export_tensorrt_profile
from fec.vocabulary import Precision

TYPE_KEYS = [kind.value for kind in TRIPLET_TYPES]
COLLAPSE_SPREAD = 1e-6  # mean squared distance between reference embeddings below which all faces look alike


@dataclass(frozen=True)
class Tolerances:
    max_abs: float | None     # None: not judged (reduced precision is judged by cosine and accuracy)
    min_cos: float
    max_delta_pt: float       # |accuracy delta| in percentage points

    def override(self, max_abs: float | None = None, min_cos: float | None = None,
                 max_delta_pt: float | None = None) -> Tolerances:
        return Tolerances(self.max_abs if max_abs is None else max_abs, self.min_cos if min_cos is None else min_cos,
                          self.max_delta_pt if max_delta_pt is None else max_delta_pt)


DEFAULT_TOLERANCES = {
    Precision.FP32: Tolerances(max_abs=1e-4, min_cos=0.9999, max_delta_pt=0.1),
    Precision.FP16: Tolerances(max_abs=None, min_cos=0.999, max_delta_pt=0.3),
    Precision.BF16: Tolerances(max_abs=None, min_cos=0.998, max_delta_pt=0.5),  # 8 mantissa bits to fp16's 11
    Precision.INT8: Tolerances(max_abs=None, min_cos=0.98, max_delta_pt=1.0),
}


@dataclass
class BackendResult:
    export_dir: str
    format: str
    precision: str
    backend: str
    status: str                        # PASS, FAIL or ERROR (could not run)
    tolerances: Tolerances
    size_mb: float | None = None
    max_abs: float | None = None
    min_cos: float | None = None
    nonfinite: int | None = None
    accuracy: dict[str, float] | None = None
    delta_pt: float | None = None
    flips: float | None = None
    failures: list[str] = field(default_factory=list)
    runner: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class VerificationResult:
    data: str
    triplets: int
    faces: int
    checkpoint: str
    reference: dict
    results: list[BackendResult]
    warnings: list[str] = field(default_factory=list)
    hardware: dict = field(default_factory=hardware_profile)  # the machine it ran on, read once

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(result.passed for result in self.results)

    def to_json(self, export_dir: str | None = None) -> dict:
        rows = [row for row in self.results if export_dir is None or row.export_dir == export_dir]
        return {"passed": all(row.passed for row in rows) and bool(rows), "data": self.data, "triplets": self.triplets,
                "faces": self.faces, "checkpoint": self.checkpoint, "reference": self.reference,
                "results": [row.to_dict() for row in rows], "warnings": self.warnings, "hardware": self.hardware}

    def table(self) -> str:
        return format_table(self)


@dataclass
class LoadedExport:
    folder: Path
    manifest: dict


@dataclass
class Reference:
    embeddings: np.ndarray
    evaluation: Evaluation
    runner: dict


# --------------------------------------------------------------------------- entry point


def verify_exports(export_dirs: list[str | Path], data: str | Path, checkpoint: str | Path | None = None,
                   backends: list[str] | None = None, overrides: dict | None = None, store: str | Path | None = None,
                   face_size: int | None = None, batch_size: int = 64, record: bool = True,
                   quiet: bool = True, allow_outside_paths: bool = False,
                   data_root: str | Path | None = None) -> VerificationResult:
    """Verify one or more export folders (from one checkpoint) against PyTorch; record results in their manifests."""
    exports = [load_export(path) for path in export_dirs]
    manifest = exports[0].manifest
    check_same_source(exports)
    reference_checkpoint = resolve_checkpoint(manifest, checkpoint)
    prep = Preprocessing.from_dict(manifest.get("preprocessing"), exports[0].folder / MANIFEST_NAME)
    dataset, warnings = load_test_faces(data, prep, manifest, store, face_size, quiet, allow_outside_paths, data_root)
    reference = run_reference(reference_checkpoint, prep, dataset, batch_size, quiet)
    warnings += reference_warnings(reference.embeddings)
    results = [verify_backend(export, name, prep, dataset, reference, overrides or {}, batch_size, quiet)
               for export in exports for name in (backends or default_backends(export.manifest))]
    result = verification_result(data, dataset, reference_checkpoint, reference, results, warnings)
    if record:
        for export in exports:
            record_verification(export.folder, result.to_json(str(export.folder)))
    return result


def verify_checkpoint_backends(checkpoint: str | Path, data: str | Path, backends: list[str], batch_size: int = 64,
                               quiet: bool = True) -> VerificationResult:
    """The checkpoint itself run by other PyTorch backends (CUDA, autocast, CUDA graphs) against PyTorch on the CPU,
    its faces cropped as in training; each backend judged in the precision it computes in, as an export would be."""
    checkpoint = Path(checkpoint)
    _, prep, loaded = checkpoint_faces(checkpoint, data, quiet=quiet)
    reference = run_reference(checkpoint, prep, loaded.dataset, batch_size, quiet)
    results = [verify_checkpoint_backend(checkpoint, name, prep, loaded.dataset, reference, batch_size, quiet)
               for name in backends]
    return verification_result(data, loaded.dataset, checkpoint, reference, results,
                               loaded.warnings() + reference_warnings(reference.embeddings))


def verification_result(data: str | Path, dataset: TripletDataset, checkpoint: Path, reference: Reference,
                        results: list[BackendResult], warnings: list[str]) -> VerificationResult:
    accuracy = {key: value.accuracy for key, value in reference.evaluation.report.items()}
    return VerificationResult(str(data), len(dataset), len(dataset.faces), str(checkpoint),
                              {"runner": reference.runner, "accuracy": accuracy}, results, warnings)


def load_export(path: str | Path) -> LoadedExport:
    """An export folder (or a file inside one) whose files match its manifest and whose ONNX is ours."""
    path = Path(path)
    folder = path.parent if path.is_file() else path
    manifest, _ = trusted_export(folder)
    if not isinstance(manifest.get("source"), dict):
        raise ExportError(f"{folder / MANIFEST_NAME}: no 'source' record of the checkpoint it was exported from; "
                          "re-export the folder with fec-export")
    FaceCrops.recorded(manifest["source"], source=f"{folder / MANIFEST_NAME}: source", say_unrecorded=False)  # refused here
    return LoadedExport(folder, manifest)


def check_same_source(exports: list[LoadedExport]) -> None:
    hashes = {export.manifest["source"].get("checkpoint_sha256") for export in exports}
    if len(hashes) > 1:
        raise ExportError("these exports come from different checkpoints; verify them in separate runs")


def resolve_checkpoint(manifest: dict, override: str | Path | None) -> Path:
    """The checkpoint the export was made from (or `override`), checked by its sha256."""
    recorded = manifest["source"].get("checkpoint")
    expected = manifest["source"].get("checkpoint_sha256")
    if not override and not (isinstance(recorded, str) and recorded and isinstance(expected, str)):
        raise ExportError("the manifest names no source checkpoint with its sha256; pass --checkpoint")
    path = Path(override or recorded)
    if not path.is_file():
        raise ExportError(f"{path}: reference checkpoint not found; pass --checkpoint")
    if expected and sha256_file(path) != expected:
        raise ExportError(f"{path}: not the checkpoint this export was made from (sha256 differs); pass the right --checkpoint")
    return path


def load_test_faces(data: str | Path, prep: Preprocessing, manifest: dict, store, face_size: int | None,
                    quiet: bool, allow_outside_paths: bool = False,
                    data_root: str | Path | None = None) -> tuple[TripletDataset, list[str]]:
    crops = FaceCrops.recorded(manifest["source"], face_size, "manifest.json: source")
    loaded = load_triplets(triplet_csv(data), prep.input_size, store, crops.size, crops.margin, quiet=quiet,
                           allow_outside_paths=allow_outside_paths, data_root=data_root)
    return loaded.dataset, loaded.warnings()


def default_backends(manifest: dict) -> list[str]:
    """The first backend of the export's preferred file: its engine (tensorrt), else its ONNX file (onnxruntime)."""
    kind = next((kind for kind in EXPORT_KINDS if artifact(manifest, kind) is not None), "onnx")  # none: says so
    return backend_names(kind)[:1]


# --------------------------------------------------------------------------- running


def runner_embedder(runner: Runner, prep: Preprocessing):
    """uint8 NHWC faces -> embeddings, feeding the runner what its graph takes."""

    def embed(faces: np.ndarray) -> np.ndarray:
        if runner.input_format == UINT8_NHWC:
            return runner.infer(np.ascontiguousarray(faces))
        return runner.infer(normalize_uint8(faces, prep))

    return embed


def embed_with(runner: Runner, prep: Preprocessing, dataset: TripletDataset, batch_size: int,
               quiet: bool) -> tuple[np.ndarray, dict]:
    """Embeddings of every unique face, and what really ran (read while the runner is active)."""
    with runner:
        size = min(batch_size, runner.max_batch or batch_size)
        return embed_faces(runner_embedder(runner, prep), dataset.faces, size, quiet), runner.describe()


def reference_backend(described: dict) -> str:
    """The backend name (fec-bench's) of the PyTorch reference run: torch on the CPU, torch-cuda on a GPU."""
    device = str(described.get("device", "cpu"))
    return "torch" if device == "cpu" else "torch-cuda"


def run_reference(checkpoint: Path, prep: Preprocessing, dataset: TripletDataset, batch_size: int, quiet: bool) -> Reference:
    embeddings, described = embed_with(create_runner("torch", checkpoint=checkpoint), prep, dataset, batch_size, quiet)
    return Reference(embeddings, score_embeddings(embeddings, dataset), described)


def reference_warnings(embeddings: np.ndarray) -> list[str]:
    sample = embeddings[:500]
    spread = float(((sample[:, None] - sample[None]) ** 2).sum(-1).mean()) if len(sample) > 1 else 0.0
    if spread < COLLAPSE_SPREAD:
        return [f"the reference embeddings are (nearly) the same for every face (mean squared distance {spread:.1e}): "
                "triplet decisions are ties and accuracy comparisons mean nothing; check the checkpoint's eval mode"]
    return []


def verify_backend(export: LoadedExport, name: str, prep: Preprocessing, dataset: TripletDataset, reference: Reference,
                   overrides: dict, batch_size: int, quiet: bool) -> BackendResult:
    manifest = export.manifest
    backend = get_backend(name) if name in export_backends() else None
    precision = backend.row_precision(manifest["precision"]) if backend else manifest["precision"]
    tolerances = DEFAULT_TOLERANCES[precision].override(**overrides)  # a bf16 backend is judged as bf16
    row = BackendResult(str(export.folder), manifest["export_format"], precision, name, "ERROR", tolerances)
    if backend is None:
        row.failures = [f"unknown backend {name!r}; available: {', '.join(export_backends())}"]
        return row
    try:
        entry = artifact(manifest, backend.kind)
        if entry is None:
            raise RunnerError(f"this export has no {backend.kind} file for backend {name}")
        row.size_mb = entry["bytes"] / 1e6
        options = backend.export_options(export_tensorrt_profile(manifest))
        runner = backend.create_runner(str(export.folder / entry["path"]), **options)
        embeddings, row.runner = embed_with(runner, prep, dataset, batch_size, quiet)
    except RunnerError as exc:
        row.failures = [str(exc)]
        return row
    return judge(row, embeddings, dataset, reference)


def verify_checkpoint_backend(checkpoint: Path, name: str, prep: Preprocessing, dataset: TripletDataset,
                              reference: Reference, batch_size: int, quiet: bool) -> BackendResult:
    backend = get_backend(name)
    precision = backend.row_precision(Precision.FP32)
    row = BackendResult(str(checkpoint), "pytorch", precision, name, "ERROR", DEFAULT_TOLERANCES[precision])
    if backend.kind != "checkpoint":
        row.failures = [f"backend {name} runs {backend.kind} targets, not checkpoints"]
        return row
    try:
        embeddings, row.runner = embed_with(backend.create_runner(str(checkpoint)), prep, dataset, batch_size, quiet)
    except RunnerError as exc:
        row.failures = [str(exc)]
        return row
    return judge(row, embeddings, dataset, reference)


# --------------------------------------------------------------------------- judging


def judge(row: BackendResult, embeddings: np.ndarray, dataset: TripletDataset, reference: Reference) -> BackendResult:
    """Fill the statistics of `row` and set PASS or FAIL against its tolerances."""
    row.nonfinite = int((~np.isfinite(embeddings)).sum())
    row.max_abs = float(np.max(np.abs(embeddings - reference.embeddings)))
    row.min_cos = float(np.min(cosine(embeddings, reference.embeddings)))
    evaluation = score_embeddings(embeddings, dataset)
    row.accuracy = {key: value.accuracy for key, value in evaluation.report.items()}
    row.delta_pt = 100.0 * (evaluation.report[OVERALL].accuracy - reference.evaluation.report[OVERALL].accuracy)
    row.flips = float(np.mean(evaluation.correct != reference.evaluation.correct))
    row.failures = failures(row)
    row.status = "FAIL" if row.failures else "PASS"
    return row


def cosine(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (first * second).sum(axis=1) / norms


def failures(row: BackendResult) -> list[str]:
    """One line per tolerance the row misses (comparisons are written so that NaN fails)."""
    tol, found = row.tolerances, []
    if row.nonfinite:
        found.append(f"{row.nonfinite} NaN/Inf values in the embeddings")
    if tol.max_abs is not None and not row.max_abs <= tol.max_abs:
        found.append(f"max|err| {row.max_abs:.2e} > {tol.max_abs:.0e}")
    if not row.min_cos >= tol.min_cos:
        found.append(f"min cos {row.min_cos:.6f} < {tol.min_cos}")
    if not abs(row.delta_pt) <= tol.max_delta_pt + 1e-9:
        found.append(f"accuracy delta {row.delta_pt:+.2f} pt exceeds +-{tol.max_delta_pt} pt")
    return found


# --------------------------------------------------------------------------- report


HEADERS = ["Format", "Precision", "Backend", "Status", "Size MB", "max|err|", "min cos", "NaN/Inf",
           "ONE", "TWO", "THREE", "Acc", "dAcc", "flips"]


def format_table(result: VerificationResult) -> str:
    reference = result.reference["accuracy"]
    rows = [["pytorch", Precision.FP32, reference_backend(result.reference["runner"]), "REF", "-", "-", "-", "-",
             *(_pct(reference[key]) for key in TYPE_KEYS), _pct(reference[OVERALL]), "-", "-"]]
    rows += [_row(row) for row in result.results]
    widths = [max(len(str(line[col])) for line in [HEADERS] + rows) for col in range(len(HEADERS))]
    lines = [" | ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [HEADERS] + rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    lines.append(f"{result.triplets} triplets, {result.faces} faces from {result.data}; "
                 "ONE/TWO/THREE/Acc: triplet accuracy (%), dAcc: points vs PyTorch, flips: decisions that changed")
    lines += [f"{row.format} {row.precision} {row.backend}: {problem}" for row in result.results for problem in row.failures]
    lines += [f"warning: {warning}" for warning in result.warnings]
    return "\n".join(lines)


def _row(row: BackendResult) -> list[str]:
    accuracy = row.accuracy or {}
    return [row.format, row.precision, row.backend, row.status, _num(row.size_mb, ".1f"), _num(row.max_abs, ".1e"),
            _num(row.min_cos, ".6f"), _num(row.nonfinite, "d"), *(_pct(accuracy.get(key)) for key in TYPE_KEYS),
            _pct(accuracy.get(OVERALL)), _num(row.delta_pt, "+.2f"), _pct(row.flips)]


def _num(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _pct(value) -> str:
    return "-" if value is None or value != value else f"{100 * value:.2f}"
