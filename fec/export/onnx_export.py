"""PyTorch model -> one self-contained ONNX file carrying fec metadata.

The file has a named input (`images`) with a dynamic batch axis, a named output (`embeddings`), the
L2 normalisation inside the graph (it is part of every model's forward), the opset pinned and
recorded, and in its metadata the model config, preprocessing, precision and provenance. With
`bake_preprocessing` the graph takes uint8 RGB NHWC pictures and normalises them itself.
Every file written passes onnx.checker's full check and strict shape inference.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import onnx
import torch
from torch import nn

from fec.artifacts import FLOAT32_NCHW, UINT8_NHWC
from fec.errors import ArtifactError
from fec.export.errors import ExportError
from fec.export.registry import EXPORTERS, OPSET
from fec.io import atomic_path
from fec.preprocessing import Preprocessing, input_size_problem
from fec.vocabulary import Precision

MIN_OPSET = 13  # the oldest opset whose operators every fec model exports to
INPUT_NAME = "images"
OUTPUT_NAME = "embeddings"
METADATA_FORMAT = "fec-onnx/1"
EXAMPLE_BATCH = 2  # torch.export specialises a batch of 1 to a constant
MAX_PROTO_BYTES = 2 << 30  # protobuf's limit; beyond it weights would need external data


@dataclass(frozen=True)
class OnnxInfo:
    """What fec records in an ONNX file's metadata, and reads back before using one."""

    model: dict
    preprocessing: Preprocessing
    precision: str = Precision.FP32
    input_format: str = FLOAT32_NCHW
    opset: int = OPSET
    exporter: str = "dynamo"
    int8_target: str | None = None
    provenance: dict = field(default_factory=dict)

    def to_metadata(self) -> dict[str, str]:
        entries = {
            "fec.format": METADATA_FORMAT,
            "fec.model": json.dumps(self.model, sort_keys=True),
            "fec.preprocessing": json.dumps(self.preprocessing.to_dict()),
            "fec.precision": self.precision,
            "fec.input_format": self.input_format,
            "fec.opset": str(self.opset),
            "fec.exporter": self.exporter,
            "fec.provenance": json.dumps(self.provenance, sort_keys=True),
        }
        if self.int8_target:
            entries["fec.int8_target"] = self.int8_target
        return entries

    @classmethod
    def from_metadata(cls, entries: dict[str, str], source: str | Path) -> OnnxInfo:
        if entries.get("fec.format") != METADATA_FORMAT:
            raise ExportError(f"{source}: not an fec ONNX export (no '{METADATA_FORMAT}' metadata); "
                              "export one from a checkpoint with fec-export")
        try:
            return cls(
                model=json.loads(entries["fec.model"]),
                preprocessing=Preprocessing.from_dict(json.loads(entries["fec.preprocessing"]), source),
                precision=entries["fec.precision"],
                input_format=entries["fec.input_format"],
                opset=int(entries["fec.opset"]),
                exporter=entries.get("fec.exporter", "unknown"),
                int8_target=entries.get("fec.int8_target"),
                provenance=json.loads(entries.get("fec.provenance", "{}")),
            )
        except ArtifactError as exc:
            raise ExportError(str(exc)) from None
        except (KeyError, ValueError, TypeError) as exc:
            raise ExportError(f"{source}: damaged fec metadata ({type(exc).__name__}: {exc})") from None


class BakedPreprocessing(nn.Module):
    """uint8 RGB NHWC pictures -> the model's normalised float NCHW input, inside the graph."""

    def __init__(self, model: nn.Module, prep: Preprocessing):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(prep.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(prep.std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        scaled = images.permute(0, 3, 1, 2).to(torch.float32) / 255.0  # same arithmetic as normalize_uint8
        return self.model((scaled - self.mean) / self.std)


def example_input(prep: Preprocessing, input_format: str) -> torch.Tensor:
    size = prep.input_size
    generator = torch.Generator().manual_seed(0)
    if input_format == UINT8_NHWC:
        return torch.randint(0, 256, (EXAMPLE_BATCH, size, size, 3), dtype=torch.uint8, generator=generator)
    return torch.randn(EXAMPLE_BATCH, 3, size, size, generator=generator)


def export_onnx(model: nn.Module, info: OnnxInfo, path: str | Path) -> OnnxInfo:
    """Export `model` (eval mode, fp32) to `path`; return the metadata as written (actual opset)."""
    if info.exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {info.exporter!r}; choose one of {', '.join(EXPORTERS)}")
    newest = onnx.defs.onnx_opset_version()
    if isinstance(info.opset, bool) or not isinstance(info.opset, int) or not MIN_OPSET <= info.opset <= newest:
        raise ExportError(f"--opset {info.opset}: choose an opset in [{MIN_OPSET}, {newest}] (onnx {onnx.__version__})")
    module = BakedPreprocessing(model, info.preprocessing) if info.input_format == UINT8_NHWC else model
    module.eval()
    example = example_input(info.preprocessing, info.input_format)
    with tempfile.TemporaryDirectory(prefix=".fec-export-", dir=Path(path).parent) as scratch:
        raw = Path(scratch) / "raw.onnx"
        _torch_export(module, example, raw, info)
        proto = onnx.load(str(raw))
    info = replace(info, opset=graph_opset(proto))
    save_onnx(proto, info, path)
    return info


def _torch_export(module: nn.Module, example: torch.Tensor, path: Path, info: OnnxInfo) -> None:
    """Run torch.onnx.export quietly; its chatter goes into the error message if it fails."""
    chatter = io.StringIO()
    options = dict(input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=info.opset)
    if info.exporter == "dynamo":
        batch = torch.export.Dim("batch", min=1)
        options.update(dynamo=True, external_data=False, dynamic_shapes=({0: batch},))
    else:
        options.update(dynamo=False, dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    try:
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), str(path), **options)
    except Exception as exc:  # the exporters raise many types; the model, not the user, is at fault
        tail = chatter.getvalue().strip().splitlines()[-3:]
        raise ExportError(f"torch.onnx.export ({info.exporter}) failed for model {info.model.get('name')!r}: "
                          f"{type(exc).__name__}: {str(exc)[:300]} {' | '.join(tail)}") from exc


def graph_opset(proto: onnx.ModelProto) -> int:
    """The default-domain opset a model actually uses (dynamo may raise a requested opset)."""
    return next(entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx"))


def save_onnx(proto: onnx.ModelProto, info: OnnxInfo, path: str | Path) -> None:
    """Stamp the metadata, check the model fully and write it atomically as one file."""
    set_metadata(proto, info)
    check_onnx(proto, path)
    with atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp), save_as_external_data=False)


def set_metadata(proto: onnx.ModelProto, info: OnnxInfo) -> None:
    entries = {entry.key: entry.value for entry in proto.metadata_props if not entry.key.startswith("fec.")}
    entries.update(info.to_metadata())
    del proto.metadata_props[:]
    for key, value in entries.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "fec"
    proto.doc_string = f"FECNet {info.model.get('name')} expression embedding ({info.precision}); see fec.* metadata"


def check_onnx(proto: onnx.ModelProto, source: str | Path) -> None:
    """onnx.checker full check, strict shape inference, and our input/output contract."""
    if proto.ByteSize() >= MAX_PROTO_BYTES:
        raise ExportError(f"{source}: model exceeds 2 GiB and cannot be one self-contained file")
    try:
        onnx.checker.check_model(proto, full_check=True)
        onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"{source}: ONNX check failed: {str(exc).splitlines()[0][:300]}") from None
    inputs = [value.name for value in proto.graph.input]
    outputs = [value.name for value in proto.graph.output]
    if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
        raise ExportError(f"{source}: expected input {INPUT_NAME!r} and output {OUTPUT_NAME!r}, got {inputs} -> {outputs}")


def read_onnx_info(path: str | Path) -> OnnxInfo:
    """The fec metadata of an ONNX file, or ExportError when it is unreadable or not ours."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: ONNX file not found")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and others for garbage
        raise ExportError(f"{path}: not a readable ONNX file ({type(exc).__name__})") from None
    if any(tensor.data_location == onnx.TensorProto.EXTERNAL for tensor in graph_tensors(proto.graph)):
        raise ExportError(f"{path}: keeps weights in separate files (ONNX external data), which no manifest covers; "
                          "fec exports are single files, re-export it with fec-export")
    return OnnxInfo.from_metadata({entry.key: entry.value for entry in proto.metadata_props}, path)


def graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor a graph stores: initializers and node attributes, in subgraphs too."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        for attribute in node.attribute:
            yield from (attribute.t, *attribute.tensors)
            for sparse in (attribute.sparse_tensor, *attribute.sparse_tensors):
                yield from (sparse.values, sparse.indices)
            for subgraph in (attribute.g, *attribute.graphs):
                yield from graph_tensors(subgraph)


def io_shapes(proto: onnx.ModelProto) -> dict:
    """Input and output names, element types and shapes ('batch' for the dynamic axis)."""

    def describe(value) -> dict:
        tensor = value.type.tensor_type
        dims = [dim.dim_param or dim.dim_value for dim in tensor.shape.dim]
        return {"name": value.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name, "shape": dims}

    return {"input": describe(proto.graph.input[0]), "output": describe(proto.graph.output[0])}


def check_matches_manifest(onnx_path: Path, manifest: dict, manifest_path: Path) -> OnnxInfo:
    """The file's own metadata, after checking it has the precision and input size its manifest claims.

    Consumers label and judge an export by those two (fec-bench rows, fec-verify tolerances), so a
    file swapped into a folder with a forged sha256 must not pass as what the manifest says.
    """
    info = read_onnx_info(onnx_path)
    preprocessing = manifest.get("preprocessing")
    if not isinstance(preprocessing, dict):
        raise ExportError(f"{manifest_path}: 'preprocessing' is {type(preprocessing).__name__}, not a mapping; "
                          "re-export the folder with fec-export")
    problem = manifest_claim_problem(manifest.get("precision", Precision.FP32), preprocessing.get("input_size"))
    if problem:  # compared as they are, a string "64" read "the file is at 64 px, but its manifest says 64 px"
        raise ExportError(f"{manifest_path}: {problem}; re-export the folder with fec-export")
    claimed = (manifest.get("precision", Precision.FP32), preprocessing.get("input_size"))
    recorded = (info.precision, info.preprocessing.input_size)
    if claimed != recorded:
        raise ExportError(f"{onnx_path}: the file is {recorded[0]} at {recorded[1]} px, but its manifest says "
                          f"{claimed[0]} at {claimed[1]} px; re-export the folder with fec-export")
    return info


def manifest_claim_problem(precision, input_size) -> str | None:
    """What is wrong with a manifest's precision and preprocessing input_size as values, or None."""
    if not isinstance(precision, str) or precision not in set(Precision):
        return f"precision {precision!r} is not one of {', '.join(Precision)}"
    problem = input_size_problem(input_size)
    return None if problem is None else f"preprocessing {problem}"


def trusted_export(folder: str | Path) -> tuple[dict, OnnxInfo | None]:
    """An export folder as every consumer must take it: (manifest, its ONNX file's metadata or None).

    The manifest's entries stay inside the folder, every listed file matches its sha256, and the ONNX
    file (when there is one) is fec's and has the precision and input size the manifest claims.
    ExportError saying why not.
    """
    from fec.export.manifest import MANIFEST_NAME, artifact, check_files, read_manifest

    folder = Path(folder)
    manifest = read_manifest(folder)
    check_files(folder, manifest)
    entry = artifact(manifest, "onnx")
    if entry is None:
        return manifest, None
    return manifest, check_matches_manifest(folder / entry["path"], manifest, folder / MANIFEST_NAME)
