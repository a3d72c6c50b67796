"""What the served models do with a request, importable and testable outside the server.

The python backends in `fec.triton.python_models` are thin shells around these functions, and
`fec-embed --checkpoint` calls the same ones, so a picture becomes the same model input on the
server, locally and in evaluation: `decode_scaled` -> `crop_box` (when a face box is given) ->
`resize_uint8` -> `normalize_uint8`, all from `fec.preprocessing`. A JPEG much larger than its face needs is
decoded at a reduced scale (`working_side`); every other picture is decoded whole, as training decodes it.

Requests come from anyone who can reach the server. A bad one (undecodable bytes, a bad face box,
a wrong shape, NaN or infinite values) fails alone as a `RequestFailure` the client is blamed for
(HTTP 400 / gRPC INVALID_ARGUMENT); anything else that goes wrong stays the server's (500 / INTERNAL).
"""

from __future__ import annotations

import json
import math
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from fec.artifacts import FLOAT32_NCHW, UINT8_NHWC
from fec.data.triplets import FaceBox
from fec.detect.convention import BoxConvention
from fec.errors import DataError
from fec.preprocessing import (
    Preprocessing,
    ScaledPicture,
    crop_box,
    crop_pixels,
    decode_scaled,
    normalize_uint8,
    picture_header,
    resize_uint8,
)

DECODER_FAULTS = (EOFError, struct.error, IndexError, KeyError, ZeroDivisionError)  # Pillow on malformed files
MAX_MESSAGE_CHARS = 500
# A normalised face lies within a few units of zero (ImageNet statistics: about -2.2 to 2.7); values far beyond
# this are no face and can overflow the network to non-finite embeddings, so they are refused as bad input.
MAX_INPUT_MAGNITUDE = 1e4
CONVENTION_PARAMETER = "box_convention"  # JSON of fec.detect.convention.BoxConvention; empty: none
MAX_FACES = 32  # faces a photo is embedded with by default (best first); the rest are counted as left out
# A JPEG over SCALED_ABOVE_PIXELS is decoded at 1/2, 1/4 or 1/8 of its size (in its DCT, by decode_scaled) where its
# face region keeps at least OVERSAMPLING times the model's input side: the resize to the input then still reduces,
# so the face differs from a whole decode by little (tests/triton/test_triton_serving.py measures it). Smaller
# pictures (every face crop and test picture here) decode whole, exactly as training decodes them: their decode
# costs a few milliseconds at most, a 12 MP photo's about 100.
SCALED_ABOVE_PIXELS = 1_000_000
OVERSAMPLING = 2
JPEG_MAGIC = b"\xff\xd8"
DCT_SCALES = (8, 4, 2)  # what a JPEG decoder can scale by while decoding, largest first


def model_settings(args: dict) -> tuple[dict, dict[str, str]]:
    """A python-backend model's config (from `initialize`'s args) and its string parameters."""
    config = json.loads(args["model_config"])
    return config, {key: value["string_value"] for key, value in config.get("parameters", {}).items()}


@dataclass(frozen=True)
class FaceSettings:
    """How a served model makes faces: the model's preprocessing, the training crops' margin, the input layout,
    and how a detected face is boxed the way training's boxes were drawn (None: the detector's box as is)."""

    prep: Preprocessing
    margin: float = 0.0
    output_format: str = FLOAT32_NCHW
    convention: BoxConvention | None = None
    max_faces: int = MAX_FACES   # a photo's faces embedded, best first; the others are reported as left out

    @classmethod
    def from_parameters(cls, parameters: dict[str, str]) -> FaceSettings:
        convention = parameters.get(CONVENTION_PARAMETER)
        return cls(Preprocessing.from_dict(json.loads(parameters["preprocessing"]), "model config parameter preprocessing"),
                   float(parameters.get("face_margin", "0")), parameters.get("output_format", FLOAT32_NCHW),
                   BoxConvention.from_dict(json.loads(convention), CONVENTION_PARAMETER) if convention else None,
                   int(parameters.get("max_faces", str(MAX_FACES))))

    def parameters(self) -> tuple[tuple[str, str], ...]:
        """The model config parameters `from_parameters` reads back."""
        convention = json.dumps(self.convention.to_dict()) if self.convention else ""
        return (("preprocessing", json.dumps(self.prep.to_dict())), ("face_margin", str(self.margin)),
                ("output_format", self.output_format), (CONVENTION_PARAMETER, convention),
                ("max_faces", str(self.max_faces)))


class RequestTimeout(DataError):
    """A request that spent the server's time budget for one request (a photo with too many pixels or faces)."""


@dataclass(frozen=True)
class Deadline:
    """One request's time budget: `check` raises RequestTimeout once `seconds` have passed (None: no budget), so
    a request that turns out slow fails alone, with its reason, instead of holding its model instance."""

    seconds: float | None
    start: float = field(default_factory=time.monotonic)

    def check(self, name: str, step: str) -> None:
        if self.seconds is not None and time.monotonic() - self.start > self.seconds:
            raise RequestTimeout(f"{name}: over the server's {self.seconds:g} s budget for one request while {step}; "
                                 "send a smaller photo or one with fewer faces")


@dataclass(frozen=True)
class RequestFailure:
    """Why one request failed: a one-line message, and whether the request itself was at fault."""

    message: str
    client_fault: bool

    @property
    def code(self) -> str:
        """The `triton_python_backend_utils.TritonError` code: INVALID_ARG (HTTP 400) or INTERNAL (500)."""
        return "INVALID_ARG" if self.client_fault else "INTERNAL"

    @classmethod
    def of(cls, exc: Exception) -> RequestFailure:
        """Our typed errors (fec.errors.FecError) are the request's fault; any other exception is the server's."""
        from fec.errors import FecError

        return cls(one_line(error_text(exc)), isinstance(exc, FecError))


def payloads_from_tensor(tensor: np.ndarray) -> list[bytes]:
    """A Triton BYTES tensor of shape (N, 1) -> N encoded pictures."""
    if tensor.ndim != 2 or tensor.shape[1] != 1:
        raise DataError(f"image input must have shape (N, 1), got {tensor.shape}")
    return [bytes(item) for item in tensor[:, 0]]


def boxes_from_tensor(tensor: np.ndarray | None, count: int) -> list[FaceBox] | None:
    """An (N, 4) float tensor of normalised (left, right, top, bottom) boxes -> FaceBoxes, checked."""
    if tensor is None:
        return None
    if tensor.shape != (count, 4):
        raise DataError(f"box input must have shape ({count}, 4) for {count} images, got {tensor.shape}")
    boxes = [FaceBox(*(float(value) for value in row)) for row in tensor]
    for index, box in enumerate(boxes):
        problem = box.problem()
        if problem:
            raise DataError(f"image {index}: {problem}")
    return boxes


def prepare_faces(payloads: list[bytes], prep: Preprocessing, boxes: list[FaceBox] | None = None,
                  margin: float = 0.0, output_format: str = FLOAT32_NCHW) -> np.ndarray:
    """Encoded pictures (and face boxes) -> the model's input batch, or DataError naming the bad image."""
    pixels = np.stack(faces_of_pictures(payloads, prep, boxes, margin))
    if output_format == UINT8_NHWC:
        return pixels
    return normalize_uint8(pixels, prep)


def faces_of_pictures(payloads: list[bytes], prep: Preprocessing, boxes: list[FaceBox] | None = None,
                      margin: float = 0.0) -> list[np.ndarray]:
    """Encoded pictures (and face boxes) -> HWC uint8 faces, or DataError for no picture or the bad image."""
    if not payloads:
        raise DataError("empty batch: send at least one image")
    return [face_pixels(payload, prep, index, boxes[index] if boxes else None, margin)
            for index, payload in enumerate(payloads)]


def face_pixels(payload: bytes, prep: Preprocessing, index: int, box: FaceBox | None, margin: float) -> np.ndarray:
    """One picture -> HWC uint8 face at the model's input size."""
    image = decoded(payload, f"image {index}", working_side(payload, prep.input_size, box, margin)).picture
    if box is not None:
        image = crop_box(image, box, margin)
    return resize_uint8(image, prep.input_size)


def working_side(payload: bytes, input_size: int, box: FaceBox | None = None, margin: float = 0.0) -> int | None:
    """The longest side to decode a JPEG at so that its face region (the box grown by `margin`, else the whole
    picture) keeps at least OVERSAMPLING x `input_size` pixels on its shorter side, or None: decode whole (any other
    format, a JPEG of at most SCALED_ABOVE_PIXELS or too small to scale, one whose header cannot be read: decoding
    will say why)."""
    if not payload.startswith(JPEG_MAGIC):
        return None
    try:
        (width, height), _ = picture_header(payload)
        if width * height <= SCALED_ABOVE_PIXELS:
            return None
        whole = (0.0, 1.0, 0.0, 1.0)
        rectangles = [crop_pixels(size, box or FaceBox(*whole), margin) for size in ((width, height), (height, width))]
    except (OSError, SyntaxError, ValueError, DataError, Image.DecompressionBombError, *DECODER_FAULTS):
        return None  # a header Pillow cannot read, or an empty box: decoding and cropping say why in their words
    face_side = min(min(right - left, bottom - top) for left, top, right, bottom in rectangles)  # either EXIF turn
    scale = next((scale for scale in DCT_SCALES if face_side >= scale * OVERSAMPLING * input_size), 1)
    return None if scale == 1 else math.ceil(max(width, height) / scale)


def decoded(payload: bytes, name: str, longest_side: int | None = None) -> ScaledPicture:
    """decode_scaled, with the odd exceptions Pillow raises on malformed files also reported as DataError."""
    try:
        return decode_scaled(payload, name, longest_side)
    except DECODER_FAULTS as exc:
        raise DataError(f"{name}: not a readable image ({type(exc).__name__}: {one_line(str(exc))})") from None


def runner_from_args(args: dict, parameters: dict[str, str], path: str | Path | None = None):
    """The activated fec.runtimes runner a python-backend model runs on its version folder's ONNX file (or `path`):
    ONNX Runtime (on a GPU instance, with the CUDA provider on the GPU Triton gave it, no quiet fallback to the CPU)
    or OpenVINO."""
    from fec.runtimes import create_runner

    path = path or model_file(args, parameters)
    threads = int(parameters.get("intra_op_threads", "0"))
    runner = parameters.get("runner", "onnxruntime")
    options: dict = {"threads": threads or None}
    if runner == "onnxruntime":
        on_gpu = args.get("model_instance_kind") == "GPU"
        options["provider"] = "cuda" if on_gpu else "cpu"
        if on_gpu:
            options["provider_options"] = {"device_id": int(args.get("model_instance_device_id", 0))}
    if "precision" in parameters:  # OpenVINO: fp32, or bf16 where the CPU does it natively
        options["precision"] = parameters["precision"]
    if parameters.get("static_shapes") == "1":  # OpenVINO compiled for each batch size it is given
        options["static_shapes"] = True
    model = create_runner(runner, model=path, **options)
    model.activate()
    return model


def model_file(args: dict, parameters: dict[str, str]) -> str:
    return os.path.join(args["model_repository"], args["model_version"], parameters["onnx_file"])


def check_model_batch(batch: np.ndarray, sample_shape: tuple[int, ...] | None = None) -> None:
    """Refuse (DataError) an empty batch, one whose samples are not `sample_shape` (-1: any size), NaN/Inf values or
    values beyond MAX_INPUT_MAGNITUDE."""
    if len(batch) == 0:
        raise DataError("empty batch: send at least one image")
    if sample_shape is not None and not shape_fits(batch.shape[1:], sample_shape):
        wanted = ", ".join("any" if size < 0 else str(size) for size in sample_shape)
        raise DataError(f"input must have shape (N, {wanted}), got {batch.shape}")
    if batch.dtype.kind in "fc":
        samples = batch.reshape(len(batch), -1)
        within = (np.abs(samples) <= MAX_INPUT_MAGNITUDE).all(axis=1)  # False for NaN and infinities too: one pass
        if within.all():
            return
        finite = np.isfinite(samples).all(axis=1)
        if not finite.all():
            raise DataError(f"input holds NaN or infinite values in {int((~finite).sum())} of {len(batch)} samples "
                            f"(first: sample {int(np.argmin(finite))}); send finite numbers")
        raise DataError(f"input values exceed {MAX_INPUT_MAGNITUDE:g} in magnitude in {int((~within).sum())} of "
                        f"{len(batch)} samples (first: sample {int(np.argmin(within))}); a normalised face lies "
                        "within a few units of zero: send faces normalised as the model's preprocessing says")


def shape_fits(shape: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    return len(shape) == len(expected) and all(want < 0 or size == want for size, want in zip(shape, expected))


def embed_requests(embed, batches: list[np.ndarray], sample_shape: tuple[int, ...] | None = None
                   ) -> list[np.ndarray | RequestFailure]:
    """Run several requests' batches as one (what dynamic batching is for) and split the result.

    Returns, per request, its embeddings or a RequestFailure. A request refused by `check_model_batch`
    fails alone; a runtime failure fails every request of the run; non-finite embeddings are never returned.
    """
    results: list[np.ndarray | RequestFailure | None] = [refusal(batch, sample_shape) for batch in batches]
    ready = [index for index, result in enumerate(results) if result is None]
    if not ready:
        return results
    try:
        embeddings = np.asarray(embed(np.concatenate([batches[index] for index in ready])), dtype=np.float32)
    except Exception as exc:  # the runtime's own errors vary by provider; report them per request
        failure = RequestFailure.of(exc)
        return [failure if result is None else result for result in results]
    stops = np.cumsum([len(batches[index]) for index in ready])
    for index, start, stop in zip(ready, np.concatenate([[0], stops[:-1]]), stops):
        results[index] = finite_or_failure(np.ascontiguousarray(embeddings[start:stop]))
    return results


def refusal(batch: np.ndarray, sample_shape: tuple[int, ...] | None) -> RequestFailure | None:
    try:
        check_model_batch(batch, sample_shape)
    except DataError as exc:
        return RequestFailure.of(exc)
    return None


def finite_or_failure(embeddings: np.ndarray) -> np.ndarray | RequestFailure:
    """Embeddings of finite inputs that are not finite are the model's fault: never sent, reported as a server error."""
    if np.isfinite(embeddings).all():
        return embeddings
    return RequestFailure("the model produced non-finite embeddings for finite inputs", client_fault=False)


def error_text(exc: Exception) -> str:
    """What a client is told about a failed request: our typed errors as they are, others with their type."""
    from fec.errors import FecError

    return str(exc) if isinstance(exc, FecError) else f"{type(exc).__name__}: {exc}"


def one_line(text: str) -> str:
    """Whitespace (newlines included) collapsed, cut to MAX_MESSAGE_CHARS: what a client is shown."""
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS - 3] + "..."
