"""The fused model's work (fec-triton's python kinds, python_models/fused_model.py): the pictures of every request a
batch holds -> uint8 faces -> one batch -> the runner -> each request's embeddings, importable and testable outside
the server. Pictures become faces as everywhere else (fec.triton.serving.faces_of_pictures); what is particular here is how
the batch reaches the model (normalised in front of the ONNX Runtime graph, or by table lookup) and where the instance
runs (a core of its own).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fec.artifacts import UINT8_NHWC
from fec.preprocessing import Preprocessing, normalize_uint8
from fec.triton.serving import (
    FaceSettings,
    RequestFailure,
    boxes_from_tensor,
    faces_of_pictures,
    finite_or_failure,
    model_file,
    payloads_from_tensor,
    runner_from_args,
)


def normalising_table(prep: Preprocessing) -> np.ndarray:
    """(3, 256) float32: what `normalize_uint8` makes of each 8-bit level in each channel. Normalising a batch by
    looking its pixels up is 10x faster than the arithmetic (8 faces at 64 px: 154 against 1562 us, AMD EPYC Zen 3,
    2026-12-07, before `normalise_faces` read the bytes in NCHW order, which took a face from 39 to 28 us), with
    bit-identical values (tests/triton/test_fused_model.py)."""
    levels = np.repeat(np.arange(256, dtype=np.uint8).reshape(1, 1, 256, 1), 3, axis=3)
    return np.ascontiguousarray(normalize_uint8(levels, prep)[0, :, 0, :])


def normalise_faces(faces_nhwc: np.ndarray, table: np.ndarray) -> np.ndarray:
    """uint8 NHWC faces -> the float32 NCHW model input, by `normalising_table` lookup. The bytes are put in NCHW
    order first, so that each channel is looked up from and written to contiguous memory."""
    levels = np.ascontiguousarray(faces_nhwc.transpose(0, 3, 1, 2))
    batch = np.empty(levels.shape, dtype=np.float32)
    for channel in range(3):
        np.take(table[channel], levels[:, channel], out=batch[:, channel], mode="clip")  # levels are < 256
    return batch


def runner_for_faces(args: dict, parameters: dict[str, str], prep: Preprocessing):
    """runner_from_args for a model fed uint8 faces (the fused model): on ONNX Runtime, a float32 NCHW file runs with
    the normalisation baked in front of its graph (fec.export.baked_input), loaded from a scratch copy that is gone
    once the session holds it. OpenVINO, which may fold the division into a multiplication, runs the file as it is."""
    if parameters.get("runner", "onnxruntime") != "onnxruntime":
        return runner_from_args(args, parameters)
    import onnx

    from fec.export.baked_input import with_baked_normalisation

    baked = with_baked_normalisation(onnx.load(model_file(args, parameters)), prep)
    if baked is None:
        return runner_from_args(args, parameters)
    with tempfile.TemporaryDirectory(prefix="fec-baked-") as scratch:
        path = Path(scratch) / parameters["onnx_file"]
        onnx.save(baked, str(path))
        return runner_from_args(args, parameters, path)


def pin_instance(args: dict, config: dict) -> int | None:
    """Run this CPU instance of a python-backend model on a core of its own when the model has one instance per core
    its process may use (fec-triton's default): instance i on the i-th core. The fused model's work comes in bursts (a
    few pictures a request) and each burst runs slower on a core other processes have just used; pinned, the demo
    model served 11-12% more images/s at 8 clients (6 runs of each design in each of two sweeps, AMD EPYC Zen 3,
    2026-12-07). Returns the core, or None where the scheduler keeps placing it: a GPU instance, one core, fewer or
    more instances than cores (a machine with spare cores balances better unpinned), a system that refuses."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    count = sum(int(group.get("count", 1)) for group in config.get("instance_group") or [{}])
    allowed = sorted(os.sched_getaffinity(0))
    index = instance_index(args.get("model_instance_name", ""), count)
    if args.get("model_instance_kind") != "CPU" or index is None or not 1 < count == len(allowed):
        return None
    try:
        for thread in os.listdir("/proc/self/task"):  # the stub's threads so far; later ones inherit the caller's
            os.sched_setaffinity(int(thread), {allowed[index]})
    except OSError:  # a container that forbids it: the instance runs where the scheduler puts it
        return None
    return allowed[index]


def instance_index(instance_name: str, count: int) -> int | None:
    """i of Triton's instance name `<model>_<group>_<i>`, or None when the name says no such instance of `count`."""
    tail = instance_name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() and int(tail) < count else None


@dataclass(frozen=True)
class PictureEmbedder:
    """The fused model's work (fec-triton's python kinds): the pictures of several requests -> uint8 faces -> one
    batch, normalised by table lookup (`table` None: the model takes uint8 faces, its normalisation baked in) ->
    `infer` -> each request's embeddings. One python model instead of an ensemble of two: each python-backend hop costs
    a round trip through shared memory and the stub, more than decoding a small face (benchmarks/triton.md)."""

    faces: FaceSettings
    infer: object  # a runner's infer: model input batch -> embeddings
    table: np.ndarray | None

    @classmethod
    def for_model(cls, faces: FaceSettings, infer, input_format: str) -> PictureEmbedder:
        """Normalising by table for a model that takes float32 NCHW, none for one that takes uint8 NHWC itself."""
        return cls(faces, infer, None if input_format == UINT8_NHWC else normalising_table(faces.prep))

    def embed(self, requests: list[tuple[np.ndarray, np.ndarray | None]]) -> list[np.ndarray | RequestFailure]:
        """(image tensor, box tensor or None) per request -> its embeddings or its RequestFailure; a bad picture
        fails its own request alone, a runtime failure every request of the run."""
        prepared = [self.faces_of(images, boxes) for images, boxes in requests]
        faces = [face for request in prepared if not isinstance(request, RequestFailure) for face in request]
        if not faces:
            return prepared
        try:
            embeddings = np.asarray(self.model_output(np.stack(faces)), dtype=np.float32)
        except Exception as exc:  # the runtime's own errors vary by provider; report them per request
            failure = RequestFailure.of(exc)
            return [request if isinstance(request, RequestFailure) else failure for request in prepared]
        return split_embeddings(prepared, embeddings)

    def faces_of(self, images: np.ndarray, boxes: np.ndarray | None) -> list[np.ndarray] | RequestFailure:
        """One request's pictures -> its uint8 HWC faces, or why it fails."""
        try:
            payloads = payloads_from_tensor(images)
            return faces_of_pictures(payloads, self.faces.prep, boxes_from_tensor(boxes, len(payloads)),
                                     self.faces.margin)
        except Exception as exc:  # this request fails alone
            return RequestFailure.of(exc)

    def model_output(self, faces_nhwc: np.ndarray) -> np.ndarray:
        return self.infer(faces_nhwc if self.table is None else normalise_faces(faces_nhwc, self.table))


def split_embeddings(prepared: list[list[np.ndarray] | RequestFailure], embeddings: np.ndarray
                     ) -> list[np.ndarray | RequestFailure]:
    """The embeddings of one batch back to the requests whose faces it held, in order; a request whose embeddings
    are not finite gets `finite_or_failure`'s failure, the others theirs."""
    finite = np.isfinite(embeddings).all(axis=1)
    results, start = [], 0
    for request in prepared:
        if isinstance(request, RequestFailure):
            results.append(request)
            continue
        stop = start + len(request)
        results.append(embeddings[start:stop] if finite[start:stop].all()
                       else finite_or_failure(embeddings[start:stop]))
        start = stop
    return results
