"""Drawing one face on a transparent tile: hair, head, eyes, brows, nose, wrinkles and mouth.

Every feature is placed in head-relative units (`Layout`), so each expression axis moves the same
features the same way on every head, whatever its size, shape or colouring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from fec.data.synth.faces import Colour, Identity


def shade(colour: Colour, factor: float) -> Colour:
    """`colour` darkened (factor < 1) or brightened (factor > 1), clipped to 0..255."""
    return tuple(int(np.clip(v * factor, 0, 255)) for v in colour)


def mix(a: Colour, b: Colour, weight: float) -> Colour:
    """`a` moved towards `b` by `weight` (0..1)."""
    return tuple(int(round(x + (y - x) * weight)) for x, y in zip(a, b))


@dataclass(frozen=True)
class Layout:
    """Pixel geometry of one face tile: head centre, head radii and a unit length for features."""

    cx: float
    cy: float
    rx: float
    ry: float
    unit: float  # one unit = the tile side, times the head size relative to an average head

    def at(self, dx: float, dy: float) -> tuple[float, float]:
        """A point offset from the head centre by (dx, dy) feature units."""
        return self.cx + dx * self.unit * self.rx / self.ry, self.cy + dy * self.unit

    def head_box(self, grow: float = 0.0, bottom: float | None = None) -> tuple[float, float, float, float]:
        """The head ellipse's bounds, grown by `grow` units on every side; `bottom` overrides its lower edge."""
        g = grow * self.unit
        low = self.cy + self.ry + g if bottom is None else bottom
        return (self.cx - self.rx - g, self.cy - self.ry - g, self.cx + self.rx + g, low)


def face_layout(identity: Identity, size: int) -> Layout:
    """Where the head sits on a tile of `size` pixels, from the identity's shift and head proportions."""
    cx = size * (0.5 + identity.shift[0])
    cy = size * (0.53 + identity.shift[1])
    rx, ry = size * identity.head_width / 2, size * identity.head_height / 2
    return Layout(cx, cy, rx, ry, size * identity.head_height / 0.85)


def draw_face_tile(identity: Identity, expression: np.ndarray, size: int) -> Image.Image:
    """One face on a transparent square tile of `size` pixels."""
    tile = Image.new("RGBA", (size, size), (*identity.background, 0))
    draw = ImageDraw.Draw(tile)
    layout = face_layout(identity, size)
    curve, opening, raise_, tilt, eye_open, wrinkle = (float(v) for v in expression)
    draw_hair_back(draw, layout, identity)
    draw_head(draw, layout, identity)
    draw_hair_front(draw, layout, identity)
    draw_wrinkles(draw, layout, identity.skin, wrinkle)
    draw_eyes(draw, layout, identity, eye_open)
    draw_brows(draw, layout, mix(identity.hair, (20, 15, 12), 0.5), raise_, tilt)
    draw_nose(draw, layout, identity.skin)
    draw_mouth(draw, layout, identity.skin, curve, opening)
    return tile


def draw_hair_back(draw: ImageDraw.ImageDraw, layout: Layout, identity: Identity) -> None:
    """Hair behind the head: a cap for most styles, long sides, a bun or curls."""
    style, hair = identity.hair_style, identity.hair
    if style == "bald":
        return
    if style == "long":
        x0, y0, x1, _ = layout.head_box(0.05)
        draw.rounded_rectangle((x0, y0, x1, layout.cy + layout.ry * 0.9), radius=(x1 - x0) / 2, fill=hair)
    draw.ellipse(layout.head_box(0.035, bottom=layout.cy + layout.ry * 0.2), fill=hair)
    if style == "bun":
        x, y = layout.at(0.0, -0.5)
        r = 0.1 * layout.unit
        draw.ellipse((x - r, y - r, x + r, y + r), fill=hair)
    if style == "curly":
        for k in range(9):
            angle = math.radians(180 + 22.5 * k)
            x, y = layout.cx + layout.rx * 1.02 * math.cos(angle), layout.cy + layout.ry * 1.02 * math.sin(angle)
            r = 0.07 * layout.unit
            draw.ellipse((x - r, y - r, x + r, y + r), fill=hair)


def draw_head(draw: ImageDraw.ImageDraw, layout: Layout, identity: Identity) -> None:
    """Ears, then the head ellipse with a thin outline."""
    for side in (-1, 1):
        x, y = layout.cx + side * layout.rx, layout.at(0, -0.04)[1]
        rx, ry = 0.045 * layout.unit, 0.08 * layout.unit
        draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=shade(identity.skin, 0.93))
    outline = max(1, round(0.008 * layout.unit))
    draw.ellipse(layout.head_box(), fill=identity.skin, outline=shade(identity.skin, 0.7), width=outline)


def draw_hair_front(draw: ImageDraw.ImageDraw, layout: Layout, identity: Identity) -> None:
    """The hair over the top of the head, down to the hairline."""
    if identity.hair_style != "bald":
        draw.chord(layout.head_box(0.002), 270 - identity.hairline, 270 + identity.hairline, fill=identity.hair)


def draw_eyes(draw: ImageDraw.ImageDraw, layout: Layout, identity: Identity, opening: float) -> None:
    """Two almond eyes whose height follows the eye opening, with iris and pupil."""
    half_w = 0.075 * layout.unit
    half_h = (0.008 + 0.062 * opening) * layout.unit
    line = max(1, round(0.012 * layout.unit))
    for side in (-1, 1):
        x, y = layout.at(side * 0.165, -0.08)
        draw.ellipse((x - half_w, y - half_h, x + half_w, y + half_h), fill=(250, 250, 245), outline=(40, 30, 30), width=line)
        iris = min(0.034 * layout.unit, half_h)
        draw.ellipse((x - 0.034 * layout.unit, y - iris, x + 0.034 * layout.unit, y + iris), fill=identity.eyes)
        pupil = min(0.015 * layout.unit, half_h * 0.6)
        draw.ellipse((x - 0.015 * layout.unit, y - pupil, x + 0.015 * layout.unit, y + pupil), fill=(10, 10, 10))


def draw_brows(draw: ImageDraw.ImageDraw, layout: Layout, colour: Colour, raise_: float, tilt: float) -> None:
    """Thick brows: raised or lowered as a whole, tilted inner-down (anger) or inner-up (sadness, fear)."""
    width = max(2, round(0.04 * layout.unit))
    base = -0.185 - 0.065 * raise_
    for side in (-1, 1):
        outer = layout.at(side * 0.26, base - 0.025 * tilt)
        middle = layout.at(side * 0.17, base - 0.015 + 0.01 * tilt)
        inner = layout.at(side * 0.07, base + 0.05 * tilt)
        draw.line((outer, middle, inner), fill=colour, width=width, joint="curve")


def draw_nose(draw: ImageDraw.ImageDraw, layout: Layout, skin: Colour) -> None:
    """A simple nose: a bridge line and a base."""
    colour = shade(skin, 0.62)
    width = max(1, round(0.014 * layout.unit))
    draw.line((layout.at(0.01, -0.02), layout.at(0.035, 0.1), layout.at(-0.005, 0.115)), fill=colour, width=width, joint="curve")
    for side in (-1, 1):
        x, y = layout.at(side * 0.04, 0.11)
        r = 0.012 * layout.unit
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)


def draw_wrinkles(draw: ImageDraw.ImageDraw, layout: Layout, skin: Colour, amount: float) -> None:
    """Nose-bridge creases and nasolabial folds whose darkness and length grow with `amount`."""
    if amount < 0.05:
        return
    colour = mix(skin, shade(skin, 0.45), min(1.0, amount * 1.2))
    width = max(1, round(0.016 * layout.unit))
    for k in range(1 + int(amount * 2.99)):
        y = -0.05 + 0.035 * k
        draw.line((layout.at(-0.05, y), layout.at(0.0, y - 0.012), layout.at(0.05, y)), fill=colour, width=width, joint="curve")
    reach = 0.08 + 0.1 * amount
    for side in (-1, 1):
        draw.line((layout.at(side * 0.075, 0.085), layout.at(side * 0.135, 0.085 + reach)), fill=colour, width=width)


def draw_mouth(draw: ImageDraw.ImageDraw, layout: Layout, skin: Colour, curve: float, opening: float) -> None:
    """A mouth whose corners rise (smile) or fall (frown) with `curve` and whose lips part with `opening`."""
    lip = mix(skin, (150, 40, 50), 0.55)
    half = 0.16 + 0.04 * max(curve, 0.0) - 0.03 * opening
    ts = np.linspace(-1.0, 1.0, 13)
    upper = [layout.at(t * half, 0.235 - 0.1 * curve * (t * t - 0.4) - 0.025 * opening * (1 - t * t)) for t in ts]
    gap = 0.17 * opening
    if gap * layout.unit < 2.0:
        draw.line(upper, fill=lip, width=max(2, round(0.04 * layout.unit)), joint="curve")
        return
    lower = [(x, y + gap * layout.unit * (1 - t * t)) for (x, y), t in zip(upper, ts)]
    draw.polygon(upper + lower[::-1], fill=(70, 20, 25))
    teeth = [(x, y + min(0.03, gap * 0.35) * layout.unit * (1 - t * t)) for (x, y), t in zip(upper, ts)]
    draw.polygon(upper + teeth[::-1], fill=(245, 245, 235))
    width = max(2, round(0.028 * layout.unit))
    draw.line(upper, fill=lip, width=width, joint="curve")
    draw.line(lower, fill=lip, width=width, joint="curve")
