"""Checking that fetched or local bytes are a plausible picture before anything is decoded or stored."""

from __future__ import annotations

from PIL import Image, UnidentifiedImageError

from fec.data.download.outcomes import NOT_IMAGE, Payload, PermanentError
from fec.errors import DataError
from fec.preprocessing import MAX_IMAGE_PIXELS, decode_image, picture_header

MIN_IMAGE_SIDE = 16


def load_picture(payload: Payload, name: str) -> tuple[Image.Image, str]:
    """Decode fully (EXIF orientation applied) after checking the size is plausible; (RGB image, format)."""
    if payload.content_type.startswith("text/"):
        raise PermanentError(NOT_IMAGE, f"not an image ({payload.content_type} page, {len(payload.data)} bytes)")
    try:
        (width, height), fmt = picture_header(payload.data)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        kind = f"{payload.content_type}, " if payload.content_type else ""  # never content: it may be a local secret
        raise PermanentError(NOT_IMAGE, f"not an image ({kind}{len(payload.data)} bytes)") from None
    if min(width, height) < MIN_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise PermanentError(NOT_IMAGE, f"implausible picture size {width}x{height}")
    try:
        return decode_image(payload.data, name), fmt
    except DataError as exc:
        raise PermanentError(NOT_IMAGE, str(exc)) from None
