"""Expression retrieval: the K pictures closest to a query, and a contact sheet to look at them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from fec.errors import DataError
from fec.io import atomic_path

TILE = 160
CAPTION = 30
COLUMNS = 6
QUERY_BORDER = (220, 40, 40)


@dataclass(frozen=True)
class Neighbour:
    path: Path
    similarity: float  # cosine similarity of the L2-normalised embeddings


def nearest(query: np.ndarray, embeddings: np.ndarray, paths: list[Path], top: int,
            exclude: Path | None = None) -> list[Neighbour]:
    """The `top` pictures with the highest cosine similarity to `query`, best first (`exclude` left out)."""
    if top < 1:
        raise DataError("--top must be at least 1")
    query = query / max(float(np.linalg.norm(query)), 1e-12)
    norms = np.maximum(np.linalg.norm(embeddings, axis=1), 1e-12)
    similarities = embeddings @ query / norms
    keep = [index for index in np.argsort(-similarities, kind="stable")
            if exclude is None or paths[index].resolve() != exclude.resolve()]
    return [Neighbour(paths[index], float(similarities[index])) for index in keep[:top]]


def contact_sheet(query: Path, neighbours: list[Neighbour], out: str | Path) -> Path:
    """A PNG: the query (red border) then its neighbours, each captioned with rank and similarity."""
    tiles = [tile(query, "query", border=QUERY_BORDER)]
    tiles += [tile(item.path, f"#{rank} cos {item.similarity:.3f}") for rank, item in enumerate(neighbours, 1)]
    columns = min(COLUMNS, len(tiles))
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * TILE, rows * (TILE + CAPTION)), "white")
    for index, picture in enumerate(tiles):
        sheet.paste(picture, ((index % columns) * TILE, (index // columns) * (TILE + CAPTION)))
    out = Path(out)
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")
    return out


def tile(path: Path, caption: str, border: tuple[int, int, int] | None = None) -> Image.Image:
    """One picture fitted into a TILE square with a two-line caption (its label and file name) below."""
    from fec.preprocessing import open_image

    picture = ImageOps.contain(open_image(path), (TILE - 8, TILE - 8))
    cell = Image.new("RGB", (TILE, TILE + CAPTION), "white")
    cell.paste(picture, ((TILE - picture.width) // 2, (TILE - picture.height) // 2))
    draw = ImageDraw.Draw(cell)
    if border:
        draw.rectangle([1, 1, TILE - 2, TILE - 2], outline=border, width=3)
    draw.text((4, TILE + 1), caption, fill="black")
    draw.text((4, TILE + 14), path.name[:26], fill=(90, 90, 90))
    return cell
