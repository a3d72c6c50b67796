"""What a synthetic face is before it becomes pixels: an expression, an identity, and its box in the picture.

The identity (head shape, colours, pose, lighting, background clutter) is everything a model must learn
to ignore. The picture geometry lives here too, because the drawing and the CSV's face boxes must agree
on it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fec.data.synth.expressions import CATEGORIES, sample_expression
from fec.data.triplets import FaceBox

Colour = tuple[int, int, int]

PICTURE_SCALE = (1.3, 2.0)  # picture side / face side, per axis
SKIN_TONES = ((255, 224, 196), (241, 194, 155), (224, 172, 125), (198, 134, 86), (160, 100, 64), (120, 76, 48))
HAIR_COLOURS = ((25, 20, 18), (70, 45, 30), (120, 80, 45), (215, 185, 120), (165, 70, 35), (170, 170, 170))
EYE_COLOURS = ((60, 40, 25), (40, 90, 140), (70, 110, 60), (100, 80, 50))
HAIR_STYLES = ("bald", "short", "long", "bun", "curly")


@dataclass(frozen=True)
class Identity:
    """Everything about a picture that is not the expression."""

    skin: Colour
    hair: Colour
    eyes: Colour
    background: Colour
    hair_style: str
    hairline: float  # angle (degrees) from the top where the hair meets the forehead
    head_width: float  # fraction of the face box
    head_height: float
    shift: tuple[float, float]  # head centre offset within the box
    rotation: float  # degrees
    box_scale: float  # face box side / image_size
    picture_scale: tuple[float, float]  # picture width, height / face box side
    offset: tuple[float, float]  # box position within the free margin, 0..1 per axis
    gain: float  # overall brightness
    light: tuple[float, float]  # brightness gradient along x and y
    clutter: tuple[tuple[str, tuple[float, float, float, float], Colour], ...]


@dataclass(frozen=True, eq=False)
class Face:
    """One synthetic face: its picture name, category, expression vector and identity."""

    name: str
    category: int
    sub_expression: int
    expression: np.ndarray
    identity: Identity

    @property
    def url(self) -> str:
        """The picture's path relative to the dataset folder, as the CSVs reference it."""
        return f"images/{self.name}.png"


def sample_faces(rng: np.random.Generator, split: str, size: int) -> list[Face]:
    """A pool of faces balanced over the categories, in random order."""
    categories = rng.permutation(np.arange(size) % len(CATEGORIES))
    return [
        Face(f"{split}_{i:06d}", int(c), *sample_expression(rng, int(c)), sample_identity(rng))
        for i, c in enumerate(categories)
    ]


def pick(rng: np.random.Generator, options: tuple) -> tuple:
    """One of `options`, uniformly at random."""
    return options[int(rng.integers(len(options)))]


def jitter(rng: np.random.Generator, colour: Colour, amount: float) -> Colour:
    """`colour` with Gaussian noise of `amount` added to each channel, clipped to 0..255."""
    return tuple(int(np.clip(v + rng.normal(0, amount), 0, 255)) for v in colour)


def sample_identity(rng: np.random.Generator) -> Identity:
    """Identity parameters, independent of the expression."""
    return Identity(
        skin=jitter(rng, pick(rng, SKIN_TONES), 8),
        hair=jitter(rng, pick(rng, HAIR_COLOURS), 10),
        eyes=jitter(rng, pick(rng, EYE_COLOURS), 10),
        background=tuple(int(v) for v in rng.integers(30, 230, 3)),
        hair_style=pick(rng, HAIR_STYLES),
        hairline=float(rng.uniform(45, 55)),
        head_width=float(rng.uniform(0.64, 0.8)),
        head_height=float(rng.uniform(0.8, 0.9)),
        shift=(float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.02, 0.03))),
        rotation=float(rng.uniform(-8, 8)),
        box_scale=float(rng.uniform(0.9, 1.1)),
        picture_scale=(float(rng.uniform(*PICTURE_SCALE)), float(rng.uniform(*PICTURE_SCALE))),
        offset=(float(rng.random()), float(rng.random())),
        gain=float(rng.uniform(0.75, 1.15)),
        light=(float(rng.uniform(-0.35, 0.35)), float(rng.uniform(-0.35, 0.35))),
        clutter=tuple(sample_clutter(rng) for _ in range(int(rng.integers(0, 5)))),
    )


def sample_clutter(rng: np.random.Generator) -> tuple[str, tuple[float, float, float, float], Colour]:
    """One background shape: kind, normalised bounds and colour."""
    x, y = rng.random(2)
    w, h = rng.uniform(0.05, 0.4, 2)
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    return pick(rng, ("rectangle", "ellipse")), (float(x), float(y), float(x + w), float(y + h)), colour


def picture_geometry(identity: Identity, image_size: int) -> tuple[int, int, int, int, int]:
    """(box side, picture width, picture height, box left, box top) in pixels."""
    side = max(8, round(image_size * identity.box_scale))
    width, height = (round(side * s) for s in identity.picture_scale)
    left = round(identity.offset[0] * (width - side))
    top = round(identity.offset[1] * (height - side))
    return side, width, height, left, top


def face_box(identity: Identity, image_size: int) -> FaceBox:
    """The face box normalised by the picture size."""
    side, width, height, left, top = picture_geometry(identity, image_size)
    return FaceBox(left / width, (left + side) / width, top / height, (top + side) / height)
