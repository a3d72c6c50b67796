"""Composing a whole picture around a face: background, clutter, the rotated face tile, then lighting.

The face is drawn at twice its size for smooth edges, rotated, halved and pasted at its box, so the
picture matches the box that the CSV records for it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from fec.data.synth.face_tile import draw_face_tile
from fec.data.synth.faces import Face, Identity, picture_geometry

SUPERSAMPLE = 2


def draw_picture(face: Face, image_size: int) -> Image.Image:
    """The whole picture: background, clutter, the face at its box, then the lighting."""
    identity = face.identity
    side, width, height, left, top = picture_geometry(identity, image_size)
    picture = Image.new("RGB", (width, height), identity.background)
    draw = ImageDraw.Draw(picture)
    for kind, (x0, y0, x1, y1), colour in identity.clutter:
        getattr(draw, kind)((x0 * width, y0 * height, x1 * width, y1 * height), fill=colour)
    tile = draw_face_tile(identity, face.expression, side * SUPERSAMPLE)
    clear = (*identity.background, 0)  # transparent, but edges blend towards the background colour
    tile = tile.rotate(identity.rotation, resample=Image.NEAREST, fillcolor=clear).reduce(SUPERSAMPLE)
    picture.paste(tile, (left, top), tile)
    return apply_lighting(picture, identity)


def apply_lighting(picture: Image.Image, identity: Identity) -> Image.Image:
    """Scale brightness by the gain and a linear gradient across the picture."""
    width, height = picture.size
    xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :]
    ys = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None]
    factor = identity.gain * (1.0 + identity.light[0] * xs + identity.light[1] * ys)
    pixels = np.asarray(picture, dtype=np.float32) * factor[:, :, None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
