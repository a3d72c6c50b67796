"""What the photo model does with a request, importable and testable outside the server.

A photo (encoded bytes, no box) -> every face MTCNN finds, each levelled and cropped by training's rule
(`fec.detect.align_face` with the model's recorded margin, its box moved onto the training data's box
convention) and made into the embedding model's input exactly as the preprocess model makes a cropped face
(`resize_uint8`, then normalised unless the export takes uint8). The python-backend model
(python_models/photo_model.py) and `fec-embed --detect --checkpoint` both call `photo_faces`, so a photo's faces
reach the model as the same pixels on the server and here.

A photo is decoded by `fec.triton.serving.decoded` at a working size (DETECTION_SIDE; a JPEG scaled while it
decodes), with the same pixel cap and the same one-line errors (a request's own fault, INVALID_ARG) as the
preprocess model. Memory per photo is bounded by the two decodes: for a JPEG at most (2 x CROP_SIDE)^2 x 3
bytes (50 MB) plus MTCNN on at most DETECTION_SIDE^2 pixels; other formats decode whole (at most the 80 MP
cap, 240 MB) before they are reduced. At most `max_faces` faces are embedded; the rest are counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fec.artifacts import UINT8_NHWC
from fec.detect import DetectedFace, FaceDetector, align_face, faces_as_arrays
from fec.errors import DataError
from fec.preprocessing import FaceBox, ScaledPicture, normalize_uint8, resize_uint8
from fec.triton.serving import Deadline, FaceSettings, decoded


def photo_payload(tensor: np.ndarray) -> bytes:
    """The photo model's input (a BYTES tensor of shape [1]: one photo per request) -> its bytes."""
    if tensor.shape != (1,):
        raise DataError(f"image input must have shape [1] (one photo per request), got {list(tensor.shape)}")
    return bytes(tensor[0])


# Detection sees a photo decoded with its longer side at most DETECTION_SIDE (MTCNN's time and memory grow with the
# pixels: a 72-megapixel photo took 23 s and 2.7 GB whole); a face is cropped from that decode, or from one at most
# CROP_SIDE long when its box there has fewer pixels than the model's input. Faces under the detector's smallest
# size (20 px) at the working size are not found: in a 4000-px photo, faces under about 60 px.
DETECTION_SIDE = 1280
CROP_SIDE = 2048


@dataclass(frozen=True)
class PhotoFaces:
    """A photo's faces (best first, in the photo's own pixels), the model's input for each, and how many more
    faces the detector found beyond the per-photo cap (FaceSettings.max_faces)."""

    faces: list[DetectedFace]
    batch: np.ndarray
    left_out: int = 0


def photo_faces(payload: bytes, detector: FaceDetector, settings: FaceSettings, name: str = "image",
                deadline: Deadline | None = None) -> PhotoFaces:
    """Every face of the photo up to the cap (best first) and the embedding model's input for each, in the same
    order. Each face is cropped by its detected box moved onto the training data's box convention, when the model
    has one. `deadline` (the request's time budget) is checked between the steps."""
    deadline = deadline or Deadline(None)
    working = decoded(payload, name, DETECTION_SIDE)
    deadline.check(name, "decoding")
    found = detector.detect(working.picture)
    deadline.check(name, "finding faces")
    kept = found[:settings.max_faces]
    size = settings.prep.input_size
    source = crop_source(payload, name, working, kept, size, settings.margin)
    pixels = []
    for face in kept:
        box = training_box(face, working.picture.size, settings)  # normalised: the same on every decode
        pixels.append(resize_uint8(align_face(source.picture, face.scaled(source.scale / working.scale), settings.margin,
                                              box=box), size))
        deadline.check(name, "cropping faces")
    batch = np.stack(pixels) if pixels else np.zeros((0, size, size, 3), np.uint8)
    batch = batch if settings.output_format == UINT8_NHWC else normalize_uint8(batch, settings.prep)
    return PhotoFaces([face.scaled(1 / working.scale) for face in kept], batch, len(found) - len(kept))


def crop_source(payload: bytes, name: str, working: ScaledPicture, faces: list[DetectedFace], size: int,
                margin: float) -> ScaledPicture:
    """The decode to crop faces from: the working one when every face has at least `size` pixels across there,
    else one fine enough for the smallest face, at most CROP_SIDE long."""
    smallest = min((max(face.width, face.height) * (1 + 2 * margin) for face in faces), default=size)
    needed = size / max(smallest, 1.0)   # how much finer than the working decode the smallest face needs
    longest = min(CROP_SIDE, round(max(working.picture.size) * needed))
    if needed <= 1 or working.scale >= 1 or longest <= max(working.picture.size):
        return working
    return decoded(payload, name, longest)


def training_box(face: DetectedFace, picture_size: tuple[int, int], settings: FaceSettings) -> FaceBox | None:
    """Where training's boxes would put this face (None: the detected box as is, when no convention is recorded)."""
    return settings.convention.face_box(face.box, picture_size) if settings.convention else None


def embed_in_chunks(embed: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, max_batch: int, dim: int) -> np.ndarray:
    """(F, D) float32 embeddings of a batch of any size, `max_batch` at a time (the model's limit); (0, D) for none."""
    chunks = [np.asarray(embed(batch[start:start + max_batch]), np.float32) for start in range(0, len(batch), max_batch)]
    return np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)


def photo_outputs(photo: PhotoFaces, embeddings: np.ndarray) -> dict[str, np.ndarray]:
    """The photo model's outputs: boxes [F, 4], scores [F], landmarks [F, 5, 2], embeddings [F, D], and left_out [1]
    (faces found beyond the cap)."""
    if len(embeddings) != len(photo.faces):
        raise ValueError(f"{len(photo.faces)} faces but {len(embeddings)} embeddings")
    return {**faces_as_arrays(photo.faces), "embeddings": np.ascontiguousarray(embeddings, np.float32),
            "left_out": np.array([photo.left_out], np.int32)}
