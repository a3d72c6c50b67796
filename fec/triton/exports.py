"""Export folders (written by fec-export) -> what a Triton repository is built from.

Several folders may be given: one with the ONNX file, others with TensorRT engines for different
GPUs. They must describe the same model and preprocessing. Every file is checked against its
manifest's sha256 first, and tensors are read from the files themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from fec.artifacts import FLOAT32_NCHW, MAX_BATCH, UINT8_NHWC, EngineSidecar, read_sidecar, sidecar_path
from fec.data.dataset import FaceCrops
from fec.detect.convention import BoxConvention
from fec.errors import ArtifactError, DataError, FecError
from fec.export.errors import ExportError
from fec.export.manifest import MANIFEST_NAME
from fec.preprocessing import Preprocessing
from fec.triton.errors import RepositoryError
from fec.triton.model_io import DYNAMIC, ModelIO, TensorInfo, onnx_model_io

if TYPE_CHECKING:
    from fec.export.onnx_export import OnnxInfo


@dataclass(frozen=True)
class EngineExport:
    """A TensorRT plan, the GPU architecture it was built for and its optimisation profile's largest batch."""

    path: Path
    compute_capability: str | None
    max_batch: int
    io: ModelIO


@dataclass(frozen=True)
class ExportSet:
    """The ONNX file and/or engines of one model, with the preprocessing they expect."""

    folders: tuple[Path, ...]
    preprocessing: Preprocessing
    input_format: str
    model: dict
    onnx: Path | None = None
    onnx_io: ModelIO | None = None   # max_batch: the largest batch the export declares (and was verified at)
    engines: tuple[EngineExport, ...] = ()
    face_margin: float = 0.0         # the margin the model's training crops had
    box_convention: BoxConvention | None = None  # how detected faces are boxed like training's (fec-data fit-boxes)

    @property
    def model_name(self) -> str:
        return str(self.model.get("name", "unknown"))


@dataclass(frozen=True)
class _FolderContents:
    folder: Path
    preprocessing: Preprocessing
    input_format: str
    model: dict
    onnx: Path | None
    engines: tuple[EngineExport, ...]
    max_batch: int | None
    face_margin: float
    box_convention: BoxConvention | None


def read_exports(folders: list[str | Path], force: bool = False) -> ExportSet:
    """Read and cross-check export folders; RepositoryError when they cannot be served together.

    A folder whose recorded verification (fec-verify) failed is refused unless `force`.
    """
    if not folders:
        raise RepositoryError("give at least one export folder (written by fec-export)")
    contents = [read_folder(Path(folder), force) for folder in folders]
    first = contents[0]
    for other in contents[1:]:
        if (other.preprocessing, other.model, other.input_format) != (first.preprocessing, first.model, first.input_format):
            raise RepositoryError(f"{other.folder} and {first.folder} export different models or preprocessing; "
                                  "serve one model per repository")
    onnx_folder = choose_onnx(contents)
    engines = tuple(engine for item in contents for engine in item.engines)
    capabilities = [engine.compute_capability for engine in engines]
    if len(engines) > 1 and (None in capabilities or len(set(capabilities)) != len(capabilities)):
        raise RepositoryError("several engines need distinct, recorded compute capabilities "
                              f"(got {capabilities}); Triton picks one plan per GPU architecture")
    onnx_io = None
    if onnx_folder is not None:
        graph = onnx_model_io(onnx_folder.onnx)
        onnx_io = ModelIO(graph.inputs, graph.outputs, onnx_folder.max_batch)
    return ExportSet(tuple(item.folder for item in contents), first.preprocessing, first.input_format, first.model,
                     onnx_folder.onnx if onnx_folder else None, onnx_io, engines, first.face_margin, first.box_convention)


def choose_onnx(contents: list[_FolderContents]) -> _FolderContents | None:
    """The folder whose ONNX file the onnxruntime models serve: an ONNX export's, else an engine folder's source."""
    plain = [item for item in contents if item.onnx is not None and not item.engines]
    if len(plain) > 1:
        raise RepositoryError(f"several ONNX exports given ({', '.join(str(item.folder) for item in plain)}); pass one")
    return next(iter(plain), None) or next((item for item in contents if item.onnx is not None), None)


def read_folder(folder: Path, force: bool = False) -> _FolderContents:
    """One export folder: manifest, hashes, its ONNX metadata and engines."""
    from fec.export.onnx_export import trusted_export  # torch and onnx: only when packaging

    try:
        manifest, onnx_info = trusted_export(folder)
    except ExportError as exc:
        raise RepositoryError(str(exc)) from None
    verification = manifest.get("verification")
    if isinstance(verification, dict) and verification.get("passed") is not True and not force:
        raise RepositoryError(f"{folder}: its recorded verification (fec-verify on {verification.get('data', '?')}) "
                              "FAILED; fix the export and verify it again, or package it anyway with --force")
    files = manifest.get("files", [])
    onnx_entries = [entry for entry in files if entry["role"] == "onnx"]
    engine_entries = [entry for entry in files if entry["role"] == "engine"]
    if not onnx_entries and not engine_entries:
        raise RepositoryError(f"{folder}: the export holds neither an ONNX file nor a TensorRT engine")
    onnx = folder / onnx_entries[0]["path"] if onnx_entries else None
    preprocessing, input_format, model = describe_model(folder, manifest, onnx_info)
    engines = tuple(read_engine(folder, entry, files, onnx) for entry in engine_entries)
    margin, convention = recorded_crops(folder / MANIFEST_NAME, manifest.get("source"))
    return _FolderContents(folder, preprocessing, input_format, model, onnx, engines,
                           declared_max_batch(folder / MANIFEST_NAME, manifest), margin, convention)


def declared_max_batch(manifest_path: Path, manifest: dict) -> int | None:
    """The manifest's `batch.max` (the largest batch the export was made and verified for), None when unrecorded."""
    batch = manifest.get("batch")
    if batch is not None and not isinstance(batch, dict):
        raise RepositoryError(f"{manifest_path}: 'batch' is {type(batch).__name__}, not a mapping; re-run fec-export")
    declared = (batch or {}).get("max")
    if declared is None:
        return None
    if isinstance(declared, bool) or not isinstance(declared, int) or not 1 <= declared <= MAX_BATCH:
        raise RepositoryError(f"{manifest_path}: batch.max {declared!r} is not a whole number in [1, {MAX_BATCH}]; "
                              "re-run fec-export")
    return declared


def recorded_crops(manifest_path: Path, source) -> tuple[float, BoxConvention | None]:
    """The training crops' margin and box convention the manifest's `source` records, checked like the options
    that override them (a margin in [0, 1])."""
    try:
        margin = FaceCrops.recorded(source, source=f"{manifest_path}: source").margin
        return float(margin), BoxConvention.recorded(source, f"{manifest_path} source")
    except (ArtifactError, DataError) as exc:
        raise RepositoryError(str(exc)) from None


def describe_model(folder: Path, manifest: dict, onnx_info: OnnxInfo | None) -> tuple[Preprocessing, str, dict]:
    """Preprocessing, input format and model config: from the ONNX file's fec metadata when there is one."""
    if onnx_info is not None:
        return onnx_info.preprocessing, onnx_info.input_format, onnx_info.model
    try:
        prep = Preprocessing.from_dict(manifest.get("preprocessing"), folder / MANIFEST_NAME)
    except ArtifactError as exc:
        raise RepositoryError(str(exc)) from None
    return prep, manifest.get("input_format", FLOAT32_NCHW), manifest.get("model", {})


def read_engine(folder: Path, entry: dict, files: list[dict], onnx: Path | None) -> EngineExport:
    """A plan and its sidecar (`<plan>.json`, written by fec-export --format trt, listed and hash-checked).

    The sidecar's `source_onnx` must name the export's own (checked) ONNX file: it never leads a reader elsewhere.
    """
    path = folder / entry["path"]
    if not any(PurePosixPath(item["path"]) == PurePosixPath(entry["path"] + ".json") for item in files):
        raise RepositoryError(f"{folder / MANIFEST_NAME}: the engine {entry['path']} has no sidecar "
                              f"{entry['path']}.json among its files; rebuild it with fec-export --format trt")
    try:
        sidecar = read_sidecar(path)
    except FecError as exc:
        raise RepositoryError(str(exc)) from None
    listed = onnx.relative_to(folder).as_posix() if onnx is not None else None
    if listed is None or PurePosixPath(sidecar.source_onnx) != PurePosixPath(listed):
        raise RepositoryError(f"{sidecar_path(path)}: source_onnx {sidecar.source_onnx!r} is not the export's ONNX file "
                              f"({listed or 'none listed'}); rebuild the engine with fec-export --format trt")
    return EngineExport(path, sidecar.gpu.compute_capability, sidecar.max_batch, engine_io(sidecar, onnx))


def engine_io(sidecar: EngineSidecar, onnx: Path) -> ModelIO:
    """The engine's tensors: input from its profile, output from the ONNX file it was built from."""
    input_dtype = "uint8" if sidecar.input_format == UINT8_NHWC else "float32"
    input_shape = (DYNAMIC, *(int(dim) for dim in sidecar.profile["max"][1:]))
    output = onnx_model_io(onnx).outputs[0]
    return ModelIO((TensorInfo(sidecar.input_name, input_dtype, input_shape),),
                   (TensorInfo(sidecar.output_name, output.dtype, output.shape),), sidecar.max_batch)
