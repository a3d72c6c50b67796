"""The serving pipeline's work, importable and testable outside the server.

The python backends in `fec.triton.backends` are thin shells around these functions, and
`fec-embed --checkpoint` calls the same ones, so a picture becomes the same model input on the
server, locally and in evaluation: `decode_image` -> `crop_box` (when a face box is given) ->
`resize_uint8` -> `normalize_uint8`, all from `fec.preprocessing`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fec.data.triplets import FaceBox
from fec.errors import DataError
from fec.preprocessing import Preprocessing, crop_box, decode_image, normalize_uint8, resize_uint8

FLOAT_NCHW = "float32-nchw"  # same tags as fec.export.onnx_export
UINT8_NHWC = "uint8-nhwc"
BOX_FIELDS = ("left", "right", "top", "bottom")


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
                  margin: float = 0.0, output_format: str = FLOAT_NCHW) -> np.ndarray:
    """Encoded pictures (and face boxes) -> the model's input batch, or DataError naming the bad image."""
    if not payloads:
        raise DataError("empty batch: send at least one image")
    pixels = np.stack([face_pixels(payload, prep, index, boxes[index] if boxes else None, margin)
                       for index, payload in enumerate(payloads)])
    if output_format == UINT8_NHWC:
        return pixels
    return normalize_uint8(pixels, prep)


def face_pixels(payload: bytes, prep: Preprocessing, index: int, box: FaceBox | None, margin: float) -> np.ndarray:
    """One picture -> HWC uint8 face at the model's input size."""
    image = decode_image(payload, f"image {index}")
    if box is not None:
        image = crop_box(image, box, margin)
    return resize_uint8(image, prep.input_size)


class OnnxEmbedder:
    """An ONNX Runtime session over an exported embedding model: model input batch -> embeddings."""

    def __init__(self, path: str | Path, threads: int = 0, use_gpu: bool = False):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        if use_gpu and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: batch})[0]


def embed_requests(embed, batches: list[np.ndarray]) -> list[np.ndarray | str]:
    """Run several requests' batches as one (what dynamic batching is for) and split the result.

    Returns, per request, its embeddings or an error message; an empty request fails alone.
    """
    results: list[np.ndarray | str] = ["empty batch: send at least one image" if len(batch) == 0 else "" for batch in batches]
    ready = [index for index, batch in enumerate(batches) if len(batch)]
    if not ready:
        return results
    try:
        embeddings = np.asarray(embed(np.concatenate([batches[index] for index in ready])), dtype=np.float32)
    except Exception as exc:  # the runtime's own errors vary by provider; report them per request
        return [results[index] or f"{type(exc).__name__}: {exc}" for index in range(len(batches))]
    stops = np.cumsum([len(batches[index]) for index in ready])
    for index, start, stop in zip(ready, np.concatenate([[0], stops[:-1]]), stops):
        results[index] = np.ascontiguousarray(embeddings[start:stop])
    return results


def error_text(exc: Exception) -> str:
    """What a client is told about a failed request: our typed errors as they are, others with their type."""
    from fec.errors import FecError

    return str(exc) if isinstance(exc, FecError) else f"{type(exc).__name__}: {exc}"
