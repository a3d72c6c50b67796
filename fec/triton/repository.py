"""Export folders -> a complete Triton model repository, checked, then written atomically.

Models (for `--name fecnet`):
  fecnet_onnx        platform onnxruntime_onnx, 1/model.onnx           (when an ONNX file is exported)
  fecnet_ort_python  the same ONNX on ONNX Runtime in the python backend (servers without onnxruntime)
  fecnet_openvino    backend openvino, 1/model.onnx (only when asked: needs Triton's OpenVINO backend)
  fecnet_ov_python   the same ONNX on OpenVINO in the python backend (only when asked)
  fecnet_trt         platform tensorrt_plan, one plan per GPU architecture (when engines are exported)
  fecnet_preprocess  python backend: image bytes (+ optional face box) -> model input
  fecnet             ensemble: image bytes -> preprocess -> embedding model -> 16-d embedding; for the python kinds
                     (ort-python, ov-python) one python model doing both, with the same tensors (fused_model.py)
  fecnet_photo       python backend: a photo -> every face's box, score, landmarks, embedding (only when asked:
                     --photos; it needs facenet-pytorch in the server's Python; see photo_config.py)

Each model is planned in `fec.triton.model_plans`; every config is rendered from `fec.triton.config`
objects and must pass `fec.triton.checks` before anything is written. The repository is built in a
temporary folder beside the target and renamed into place, so a failure never leaves half a repository.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from fec.io import atomic_folder, write_json
from fec.triton import checks
from fec.triton.errors import RepositoryError
from fec.triton.exports import ExportSet
from fec.triton.model_plans import (
    PYTHON_RUNNERS,
    PlannedModel,
    ensemble_model,
    fitted_batch,
    fused_model,
    onnx_model,
    openvino_model,
    photo_model,
    preprocess_model,
    python_runner_model,
    trt_model,
)
from fec.triton.options import DEFAULT_REPO, RepositoryOptions

__all__ = ["DEFAULT_REPO", "MARKER", "RepositoryOptions", "RepositorySummary", "plan_repository", "write_repository"]

MARKER = ".fec-triton.json"
VERSION = "1"


@dataclass(frozen=True)
class RepositorySummary:
    repo: Path
    models: dict[str, str]   # name -> one-line description
    ensemble: str
    embedding_model: str
    notes: tuple[str, ...] = ()
    fused: bool = False      # the ensemble's name is one python model (the python kinds), not an ensemble

    def to_dict(self) -> dict:
        payload = asdict(self)
        payload["repo"] = str(self.repo)
        return payload


def write_repository(exports: ExportSet, options: RepositoryOptions, repo: str | Path = DEFAULT_REPO) -> RepositorySummary:
    """Plan, check and atomically write the repository; returns what was written."""
    options = options.validate()
    planned, notes = plan_repository(exports, options)
    check_planned(planned)
    summary = RepositorySummary(Path(repo), {model.name: model.summary for model in planned}, options.name,
                                planned[-1].embedding_model, tuple(notes), planned[-1].config.platform != "ensemble")
    replace_folder(Path(repo), lambda folder: fill_folder(folder, planned, summary, exports, options))
    return summary


def plan_repository(exports: ExportSet, options: RepositoryOptions) -> tuple[list[PlannedModel], list[str]]:
    """The models to write, `<name>` last (the ensemble, or the fused model for the python kinds), and notes on choices
    made (e.g. a clamped batch size)."""
    kind = options.embedding or ("trt" if exports.engines else "onnx")
    if kind == "trt" and not exports.engines:
        raise RepositoryError("--embedding trt needs an export folder with a TensorRT engine")
    if kind != "trt" and exports.onnx is None:
        raise RepositoryError(f"--embedding {kind} needs an export folder with an ONNX file")
    notes: list[str] = []
    embedding: dict[str, PlannedModel] = {}
    if exports.onnx is not None:
        onnx_batch = fitted_batch(options, exports.onnx_io.max_batch, "the ONNX export's declared maximum", notes)
        embedding["onnx"] = onnx_model(exports, options, onnx_batch)
        embedding["ort-python"] = python_runner_model(exports, options, onnx_batch, "ort-python", kind == "ort-python")
        if kind == "openvino":
            embedding["openvino"] = openvino_model(exports, options, onnx_batch, notes)
        if kind == "ov-python":  # its model.py needs OpenVINO in the server's Python
            embedding["ov-python"] = python_runner_model(exports, options, onnx_batch, "ov-python")
    if exports.engines:
        embedding["trt"] = trt_model(exports, options, notes)
    chosen = embedding[kind]
    preprocess = preprocess_model(exports, options, chosen.config.inputs[0].name)
    photo = [photo_model(exports, options, chosen.config)] if options.photos else []
    if kind in PYTHON_RUNNERS:
        front = fused_model(exports, options, preprocess.config, chosen, kind)
    else:
        front = ensemble_model(options, preprocess.config, chosen.config)
    return [*embedding.values(), preprocess, *photo, front], notes


def check_planned(planned: list[PlannedModel]) -> dict:
    """Parse every config with Triton's schema and check it; returns the parsed protobufs by name."""
    parsed = {}
    for model in planned:
        proto = checks.parse_config(model.config.to_pbtxt(), f"{model.name}/config.pbtxt")
        checks.check_common(proto)
        if model.model_io is not None:
            checks.check_model_io(proto, model.model_io, model.source)
        if proto.platform == "ensemble":
            checks.check_ensemble(proto, parsed)
        parsed[model.name] = proto
    return parsed


def fill_folder(folder: Path, planned: list[PlannedModel], summary: RepositorySummary, exports: ExportSet,
                options: RepositoryOptions) -> None:
    """Write every model's config.pbtxt and version files, the README and the marker into `folder`."""
    from fec.triton.readme import repository_readme

    for model in planned:
        model_dir = folder / model.name
        (model_dir / VERSION).mkdir(parents=True)
        (model_dir / "config.pbtxt").write_text(model.config.to_pbtxt(), encoding="utf-8")
        for name, content in model.files.items():
            target = model_dir / VERSION / name
            if isinstance(content, Path):
                shutil.copyfile(content, target)
            else:
                target.write_text(content, encoding="utf-8")
    (folder / "README.md").write_text(repository_readme(summary), encoding="utf-8")
    write_json(folder / MARKER, {"format": "fec-triton/1", **summary.to_dict(),
                                 "exports": [str(path) for path in exports.folders], "options": asdict(options)})


def replace_folder(repo: Path, fill) -> None:
    """Build the new repository with `fill(tmp)` beside `repo`, then swap it in (refusing foreign folders)."""
    check_replaceable(repo)
    with atomic_folder(repo) as building:
        fill(building)


def check_replaceable(repo: Path) -> None:
    """Only an empty folder, one holding just a README, or one fec-triton wrote may be replaced."""
    if not repo.exists():
        return
    if not repo.is_dir():
        raise RepositoryError(f"{repo}: exists and is not a folder")
    entries = {entry.name for entry in repo.iterdir()}
    if entries - {"README.md"} and MARKER not in entries:
        raise RepositoryError(f"{repo}: not a repository written by fec-triton (no {MARKER}); "
                              "choose another --repo or empty it")
