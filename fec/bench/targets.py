"""What to benchmark: a checkpoint, an export folder or a served model, resolved into a Target.

A target is a checkpoint (.pt), an export folder (its ONNX file, and its TensorRT engine when it has
one), or a model on a running Triton server (`http://HOST:PORT/MODEL`, `grpc://HOST:PORT/MODEL`).
Resolving one reads what each kind of backend loads from it and the preprocessing its inputs need,
so that planning and measuring never open files or contact servers to find out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fec.bench.errors import BenchError
from fec.data.dataset import FaceCrops
from fec.preprocessing import Preprocessing
from fec.runtimes.backends import EXPORT_KINDS
from fec.runtimes.base import last_line
from fec.runtimes.onnxruntime_runner import export_tensorrt_profile
from fec.vocabulary import Precision

SERVER_SCHEMES = {"http://": "server-http", "grpc://": "server-grpc"}


@dataclass(frozen=True)
class Target:
    """What to benchmark, with what each kind of backend loads from it and its preprocessing."""

    path: str                         # as the user gave it: a file, a folder or a URL
    files: dict[str, str]             # target kind -> what the runner loads (.pt, .onnx, .plan, server address)
    prep: Preprocessing
    precision: str
    crops: FaceCrops = FaceCrops()    # how the model's faces were cropped in training
    tensorrt_profile: dict = field(default_factory=dict)  # ONNX Runtime TensorRT provider profile of an export
    model: str | None = None          # the model's name on a server

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.files)

    @property
    def label(self) -> str:
        return self.model or Path(self.path).name


def is_server(path: str) -> bool:
    return str(path).startswith(tuple(SERVER_SCHEMES))


def resolve_target(path: str | Path) -> Target:
    """A checkpoint file, an export folder or a server URL, or BenchError saying why it is neither."""
    text = str(path)
    if is_server(text):
        return server_target(text)
    if "://" in text:
        raise BenchError(f"{text}: unsupported URL; a server target is http://HOST:PORT/MODEL or grpc://HOST:PORT/MODEL")
    path = Path(path)
    if not path.exists():
        raise BenchError(f"{path}: target not found (give a checkpoint .pt, an export folder or a server URL)")
    if path.is_file():
        return checkpoint_target(path)
    return export_target(path)


def checkpoint_target(path: Path) -> Target:
    from fec.models.checkpoint import read_checkpoint

    payload = read_checkpoint(path)
    return Target(path=str(path), files={"checkpoint": str(path)}, prep=Preprocessing.from_dict(payload["preprocessing"], path),
                  precision=Precision.FP32, crops=FaceCrops.recorded(payload.get("config"), source=f"{path}: config"))


def export_target(folder: Path) -> Target:
    """An export folder, trusted only after its files match their sha256 and its ONNX file its manifest."""
    from fec.export.manifest import MANIFEST_NAME, artifact
    from fec.export.onnx_export import trusted_export

    manifest, _ = trusted_export(folder)
    files = {kind: str(folder / entry["path"]) for kind in reversed(EXPORT_KINDS)
             if (entry := artifact(manifest, kind)) is not None}
    if not files:
        roles = ", ".join(sorted({entry["role"] for entry in manifest.get("files", [])})) or "none"
        raise BenchError(f"{folder}: no ONNX file or TensorRT engine in this export (roles: {roles})")
    recorded_in = folder / MANIFEST_NAME
    prep = Preprocessing.from_dict(manifest.get("preprocessing"), recorded_in)
    crops = FaceCrops.recorded(manifest.get("source"), source=recorded_in)
    return Target(path=str(folder), files=files, prep=prep, precision=manifest.get("precision", Precision.FP32), crops=crops,
                  tensorrt_profile=export_tensorrt_profile(manifest))


def server_target(url: str) -> Target:
    """A model on a running server: its input size from the server, its preprocessing from the repository's
    `<name>_preprocess` model when there is one (else the default mean/std)."""
    from fec.runtimes.triton_client import ensemble_name
    from fec.runtimes.triton_runner import TritonRunner

    kind = next(kind for scheme, kind in SERVER_SCHEMES.items() if url.startswith(scheme))
    address, _, model = url.split("://", 1)[1].partition("/")
    with TritonRunner(address, kind.split("-")[1], model.strip("/") or None) as runner:
        prep = server_preprocessing(runner.client, ensemble_name(runner.model)) or Preprocessing(runner.input_size or 224)
        return Target(path=url, files={kind: address}, prep=prep, precision=Precision.FP32, model=runner.model)


def server_preprocessing(client, base: str | None) -> Preprocessing | None:
    """The preprocessing the server's `<base>_preprocess` model declares; None when it has no such model (a bare
    embedding model: the caller normalises). A preprocess model whose config cannot be read is an error: guessing
    another normalisation would benchmark the wrong inputs."""
    import json

    from fec.errors import ArtifactError, ServingError
    from fec.runtimes.triton_client import PREPROCESS_KIND, model_name

    name = None if base is None else model_name(base, PREPROCESS_KIND)
    if name is None or not client.model_ready(name):
        return None
    try:
        parameters = client.model_config(name).get("parameters", {})
        return Preprocessing.from_dict(json.loads(parameters["preprocessing"]["string_value"]), f"server model {name}")
    except (ServingError, ArtifactError, KeyError, TypeError, ValueError) as exc:
        raise BenchError(f"server model {name}: its preprocessing cannot be read ({last_line(exc)}); "
                         "repackage it with fec-triton") from None
