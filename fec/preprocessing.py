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
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from fec.errors import ArtifactError, DataError, PictureWarning

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
        with _pillow_warnings() as pillow_warnings, Image.open(path) as image:
            picture = _to_rgb(image, str(path), pillow_warnings)
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except Image.DecompressionBombError:
        raise DataError(f"{path}: {_over_the_cap()}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image ({_reason(exc)}); re-create or remove it") from None
    _say_what_was_ignored(str(path), pillow_warnings)
    return picture


def decode_image(payload: bytes, name: str = "<bytes>") -> Image.Image:
    """Decode encoded image bytes (JPEG, PNG, ...) fully as RGB, or raise DataError."""
    return decode_scaled(payload, name).picture


@dataclass(frozen=True)
class ScaledPicture:
    """A picture decoded at a working size: `scale` of its pixels per pixel of the whole picture (at most 1)."""

    picture: Image.Image
    scale: float


def decode_scaled(payload: bytes, name: str = "<bytes>", longest_side: int | None = None) -> ScaledPicture:
    """Decode encoded image bytes as RGB with the longer side at most `longest_side` (None: whole), or raise
    DataError. A JPEG is scaled in its DCT while it decodes (by 1/2, 1/4 or 1/8: time and memory shrink by the
    square), so a photo whose header claims 72 megapixels costs what its working size costs: at most
    (2 x longest_side)^2 x 3 bytes. Other formats decode whole (at most the 80 MP cap) and are then reduced."""
    try:
        with _pillow_warnings() as pillow_warnings, Image.open(io.BytesIO(payload)) as image:
            _check_pixel_cap(image, name)
            whole_side = max(image.size)
            if longest_side and whole_side > longest_side and image.format == "JPEG":
                factor = longest_side / whole_side
                image.draft(image.mode, (max(1, round(image.width * factor)), max(1, round(image.height * factor))))
            picture = _to_rgb(image, name, pillow_warnings)
    except Image.DecompressionBombError:
        raise DataError(f"{name}: {_over_the_cap()}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{name}: not a readable image ({_reason(exc)})") from None
    _say_what_was_ignored(name, pillow_warnings)
    if longest_side and max(picture.size) > longest_side:
        picture.thumbnail((longest_side, longest_side), Image.Resampling.BILINEAR)
    return ScaledPicture(picture, max(picture.size) / whole_side)


def picture_header(payload: bytes) -> tuple[tuple[int, int], str]:
    """The size and format a picture's header claims, without decoding its pixels (nor printing Pillow's warnings:
    decode_image says what they mean)."""
    with _pillow_warnings(), Image.open(io.BytesIO(payload)) as probe:
        return probe.size, probe.format or ""


def _check_pixel_cap(image: Image.Image, name: str) -> None:
    """The cap, on the header's size: before any pixel is decoded (or a JPEG's draft makes the size smaller)."""
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(f"{name}: {width}x{height} pixels: {_over_the_cap()}")


def _to_rgb(image: Image.Image, name: str, pillow_warnings: list) -> Image.Image:
    _check_pixel_cap(image, name)
    image.load()  # decode now so truncated files fail here, not later
    # Read now: a damaged EXIF block warns here (or at open, for a JPEG's resolution). Pillow's getexif also
    # reads an XMP tiff:Orientation, as exif_transpose does.
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    pixels = _eight_bit(image, name)
    if orientation in TURNED and not pillow_warnings:  # exif_transpose copies even an upright picture: skipped
        pixels = ImageOps.exif_transpose(pixels)
    return _opaque_rgb(pixels)


TURNED = range(2, 9)  # the EXIF orientations ImageOps.exif_transpose turns or flips (1 is upright)


SIXTEEN_BIT_GREY = {"I;16", "I;16L", "I;16B", "I;16N"}
ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
BACKGROUND = (255, 255, 255, 255)  # what transparent pixels show: white, as a page or a browser shows them


def _eight_bit(image: Image.Image, name: str) -> Image.Image:
    """8 bits per channel: 16-bit greyscale scaled (convert() would clip it at 255, washing the picture out to
    white), pixels with no fixed range (32-bit integers, floats) refused. Other modes are 8-bit already."""
    if image.mode in SIXTEEN_BIT_GREY or (image.mode == "I" and image.format == "PNG"):  # Pillow < 10: a 16-bit PNG is I
        return _grey_from_sixteen_bits(image)
    if image.mode in ("I", "F"):
        kind = "32-bit integer" if image.mode == "I" else "floating-point"
        raise DataError(f"{name}: {kind} pixels (mode {image.mode}) have no fixed range; save the picture with 8 or 16 "
                        "bits per channel")
    return image


def _grey_from_sixteen_bits(image: Image.Image) -> Image.Image:
    """L (or LA where a transparent grey level is set) from 16-bit grey, keeping the EXIF block."""
    levels = np.asarray(image).astype(np.int64)
    grey = Image.fromarray(((levels * 255 + 32767) // 65535).clip(0, 255).astype(np.uint8), "L")
    transparent = image.info.get("transparency")
    if isinstance(transparent, int):
        grey = Image.merge("LA", (grey, Image.fromarray(np.where(levels == transparent, 0, 255).astype(np.uint8), "L")))
    grey.info = {key: value for key, value in image.info.items() if key != "transparency"}
    return grey


def _opaque_rgb(image: Image.Image) -> Image.Image:
    """RGB, with transparent pixels (an alpha channel, or a palette or grey level marked transparent) shown over
    BACKGROUND: dropping the alpha would show whatever colour a transparent pixel happens to hold."""
    if image.mode not in ALPHA_MODES and "transparency" not in image.info:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, BACKGROUND), rgba).convert("RGB")


def _over_the_cap() -> str:
    return f"over the {MAX_IMAGE_PIXELS // 1_000_000} megapixel limit for one picture; scale it down first"


@contextmanager
def _pillow_warnings():
    """Pillow's warnings while a picture decodes, kept instead of printed (they name a line of Pillow, not the
    picture): its decompression-bomb warning is noise (our cap is lower, and an error), the rest mean damaged
    metadata (a corrupt EXIF block), said once in our words by _say_what_was_ignored."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield caught


def _say_what_was_ignored(name: str, pillow_warnings: list) -> None:
    """One PictureWarning for a picture whose metadata Pillow found damaged: its EXIF orientation was not applied."""
    if pillow_warnings:
        reason = " ".join(str(pillow_warnings[0].message).split()).rstrip(".")
        warnings.warn(f"{name}: damaged metadata ({reason}); the picture is used as stored, without EXIF orientation",
                      PictureWarning, stacklevel=3)


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
    """Resize to size x size (bilinear) and return HWC uint8 RGB (read-only: a view of the picture's bytes)."""
    if image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR)
    if image.mode != "RGB":
        return np.asarray(image, dtype=np.uint8)
    return np.frombuffer(image.tobytes(), np.uint8).reshape(size, size, 3)  # half the time of np.asarray(image)


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
