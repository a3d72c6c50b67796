"""Image preprocessing shared by training, evaluation, export, verification and serving.

One code path from picture to model input: decode (EXIF orientation applied), crop the face box,
resize to the model's square input, scale to [0, 1] and normalise by the model's RGB mean/std.
The `Preprocessing` record travels inside every checkpoint and export manifest so that no stage can
disagree on normalisation.
"""

from __future__ import annotations

import io
import re
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fec.errors import ArtifactError, DataError

MIN_INPUT_SIZE, MAX_INPUT_SIZE = 16, 4096  # model input sides any fec model can take
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """What a model expects: a square RGB input of `input_size` pixels normalised by mean/std."""

    input_size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload, source: str | Path = "preprocessing") -> Preprocessing:
        """From a checkpoint, manifest or model config (untrusted): ArtifactError naming `source` and the field
        when an entry is missing or impossible."""
        if not isinstance(payload, dict) or not {"input_size", "mean", "std"} <= payload.keys():
            raise ArtifactError(f"{source}: preprocessing entry is incomplete (needs input_size, mean and std)")
        problem = input_size_problem(payload["input_size"])
        if problem:
            raise ArtifactError(f"{source}: preprocessing {problem}")
        mean, std = (_three_numbers(payload, name, source) for name in ("mean", "std"))
        if min(std) <= 0:
            raise ArtifactError(f"{source}: preprocessing std {list(std)!r} must be positive")
        return cls(payload["input_size"], mean, std)


def _three_numbers(payload: dict, name: str, source: str | Path) -> tuple[float, float, float]:
    values = payload[name]
    if (not isinstance(values, (list, tuple)) or len(values) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values)):
        raise ArtifactError(f"{source}: preprocessing {name} {values!r} is not three finite numbers")
    return tuple(float(v) for v in values)


def input_size_problem(size) -> str | None:
    """Why `size` cannot be a model's input side, or None."""
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_INPUT_SIZE <= size <= MAX_INPUT_SIZE:
        return f"input_size {size!r} is not a whole number of pixels in [{MIN_INPUT_SIZE}, {MAX_INPUT_SIZE}]"
    return None


# The one cap on decoded pictures, for every path that opens one (training, evaluation, embedding,
# download, serving): 80 megapixels (10000 x 8000) decode to 240 MB of RGB. Checked on the header,
# before any pixel is decoded, so a small file that claims a huge canvas (a decompression bomb)
# costs nothing.
MAX_IMAGE_PIXELS = 80_000_000


def open_image(path: str | Path) -> Image.Image:
    """Decode an image file fully as RGB, or raise DataError naming the file."""
    try:
        with _bomb_warnings_off(), Image.open(path) as image:
            return _to_rgb(image, str(path))
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except Image.DecompressionBombError:
        raise DataError(f"{path}: {_over_the_cap()}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image ({_reason(exc)}); re-create or remove it") from None


def decode_image(payload: bytes, name: str = "<bytes>") -> Image.Image:
    """Decode encoded image bytes (JPEG, PNG, ...) fully as RGB, or raise DataError."""
    try:
        with _bomb_warnings_off(), Image.open(io.BytesIO(payload)) as image:
            return _to_rgb(image, name)
    except Image.DecompressionBombError:
        raise DataError(f"{name}: {_over_the_cap()}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{name}: not a readable image ({_reason(exc)})") from None


def _to_rgb(image: Image.Image, name: str) -> Image.Image:
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(f"{name}: {width}x{height} pixels: {_over_the_cap()}")
    image.load()  # decode now so truncated files fail here, not later
    return ImageOps.exif_transpose(image).convert("RGB")


def _over_the_cap() -> str:
    return f"over the {MAX_IMAGE_PIXELS // 1_000_000} megapixel limit for one picture; scale it down first"


@contextmanager
def _bomb_warnings_off():
    """PIL warns on pictures over its own limit; ours is lower and is an error, so its warning is noise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _reason(exc: Exception) -> str:
    """PIL's message without the in-memory object it names (`cannot identify image file <_io.BytesIO ...>`)."""
    return re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-f]+>|\s*'[^']*'$", "", str(exc)) or type(exc).__name__


@dataclass(frozen=True)
class FaceBox:
    """A face box normalised to [0, 1]: columns by the image width, rows by its height."""

    left: float
    right: float
    top: float
    bottom: float

    def problem(self) -> str | None:
        """Say what is wrong with the box, or None when it is valid."""
        for name in ("left", "right", "top", "bottom"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                return f"box {name} {value} is outside [0, 1]"
        if self.right <= self.left or self.bottom <= self.top:
            return f"box is empty (left {self.left}, right {self.right}, top {self.top}, bottom {self.bottom})"
        return None


def crop_box(image: Image.Image, box: FaceBox, margin: float = 0.0) -> Image.Image:
    """Crop a normalised (left, right, top, bottom) box, grown by `margin` of its size on each side."""
    return image.crop(crop_pixels(image.size, box, margin))


def crop_pixels(picture_size: tuple[int, int], box: FaceBox, margin: float = 0.0) -> tuple[int, int, int, int]:
    """The pixel rectangle (left, top, right, bottom) `crop_box` takes: the box grown by `margin` of its size
    on each side, clipped to the picture. One rule, so face aligners crop exactly as training does."""
    width, height = picture_size
    box_w, box_h = box.right - box.left, box.bottom - box.top
    left = max(0.0, box.left - margin * box_w) * width
    right = min(1.0, box.right + margin * box_w) * width
    top = max(0.0, box.top - margin * box_h) * height
    bottom = min(1.0, box.bottom + margin * box_h) * height
    pixels = (round(left), round(top), round(right), round(bottom))
    if pixels[2] <= pixels[0] or pixels[3] <= pixels[1]:
        raise DataError(f"face box {box} is empty after rounding on a {width}x{height} image")
    return pixels


def resize_uint8(image: Image.Image, size: int) -> np.ndarray:
    """Resize to size x size (bilinear) and return HWC uint8 RGB."""
    if image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def normalize_uint8(batch_nhwc: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """uint8 NHWC RGB -> float32 NCHW normalised by the model's mean/std."""
    scaled = batch_nhwc.astype(np.float32) / 255.0
    scaled = (scaled - np.asarray(prep.mean, np.float32)) / np.asarray(prep.std, np.float32)
    return np.ascontiguousarray(scaled.transpose(0, 3, 1, 2))


def preprocess_images(images: list[Image.Image], prep: Preprocessing) -> np.ndarray:
    """Decoded face crops -> the model's float32 NCHW input batch."""
    batch = np.stack([resize_uint8(image, prep.input_size) for image in images])
    return normalize_uint8(batch, prep)


def normalize_tensor(images_uint8, prep: Preprocessing):
    """torch uint8 (..., 3, H, W) -> float32 normalised by the model's mean/std, on the tensor's device."""
    import torch

    mean = torch.tensor(prep.mean, device=images_uint8.device).view(3, 1, 1)
    std = torch.tensor(prep.std, device=images_uint8.device).view(3, 1, 1)
    return (images_uint8.float() / 255.0 - mean) / std
