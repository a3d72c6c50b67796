"""What the photo model does with a request, importable and testable outside the server.

A photo (encoded bytes, no box) -> every face MTCNN finds, each levelled and cropped by training's rule
(`fec.detect.align_face` with the model's recorded margin, its box moved onto the training data's box
convention) and made into the embedding model's input exactly as the preprocess model makes a cropped face
(`resize_uint8`, then normalised unless the export takes uint8). The python-backend model
(backends/photo_model.py) and `fec-embed --detect --checkpoint` both call `photo_faces`, so a photo's faces
reach the model as the same pixels on the server and here.

A photo is decoded by `fec.triton.serving.decoded`: the same pixel cap and the same one-line errors (a
request's own fault, INVALID_ARG) as the preprocess model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fec.artifacts import UINT8_NHWC
from fec.detect import DetectedFace, FaceDetector, align_face, faces_as_arrays
from fec.errors import DataError
from fec.preprocessing import FaceBox, normalize_uint8, resize_uint8
from fec.triton.serving import FaceSettings, decoded


def photo_payload(tensor: np.ndarray) -> bytes:
    """The photo model's input (a BYTES tensor of shape [1]: one photo per request) -> its bytes."""
    if tensor.shape != (1,):
        raise DataError(f"image input must have shape [1] (one photo per request), got {list(tensor.shape)}")
    return bytes(tensor[0])


def photo_faces(payload: bytes, detector: FaceDetector, settings: FaceSettings,
                name: str = "image") -> tuple[list[DetectedFace], np.ndarray]:
    """Every face of the photo (best first) and the embedding model's input for each, in the same order. Each
    face is cropped by its detected box moved onto the training data's box convention, when the model has one."""
    picture = decoded(payload, name)
    faces = detector.detect(picture)
    size = settings.prep.input_size
    pixels = [resize_uint8(align_face(picture, face, settings.margin, box=training_box(face, picture.size, settings)), size)
              for face in faces]
    batch = np.stack(pixels) if pixels else np.zeros((0, size, size, 3), np.uint8)
    return faces, batch if settings.output_format == UINT8_NHWC else normalize_uint8(batch, settings.prep)


def training_box(face: DetectedFace, picture_size: tuple[int, int], settings: FaceSettings) -> FaceBox | None:
    """Where training's boxes would put this face (None: the detected box as is, when no convention is recorded)."""
    return settings.convention.face_box(face.box, picture_size) if settings.convention else None


def embed_in_chunks(embed: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, max_batch: int, dim: int) -> np.ndarray:
    """(F, D) float32 embeddings of a batch of any size, `max_batch` at a time (the model's limit); (0, D) for none."""
    chunks = [np.asarray(embed(batch[start:start + max_batch]), np.float32) for start in range(0, len(batch), max_batch)]
    return np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)


def photo_outputs(faces: list[DetectedFace], embeddings: np.ndarray) -> dict[str, np.ndarray]:
    """The photo model's outputs: boxes [F, 4], scores [F], landmarks [F, 5, 2], embeddings [F, D]."""
    if len(embeddings) != len(faces):
        raise ValueError(f"{len(faces)} faces but {len(embeddings)} embeddings")
    return {**faces_as_arrays(faces), "embeddings": np.ascontiguousarray(embeddings, np.float32)}
