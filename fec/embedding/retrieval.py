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
    skip = {index for index, path in enumerate(paths) if exclude is not None and path.resolve() == exclude.resolve()}
    return [Neighbour(paths[index], similarity) for index, similarity in ranked(query, embeddings, top, skip)]


def ranked(query: np.ndarray, embeddings: np.ndarray, top: int, skip: set[int] = frozenset()) -> list[tuple[int, float]]:
    """(row, cosine similarity) of the `top` rows of `embeddings` closest to `query`, best first, rows in `skip` left out."""
    if top < 1:
        raise DataError("--top must be at least 1")
    query = query / max(float(np.linalg.norm(query)), 1e-12)
    norms = np.maximum(np.linalg.norm(embeddings, axis=1), 1e-12)
    similarities = embeddings @ query / norms
    keep = [int(index) for index in np.argsort(-similarities, kind="stable") if int(index) not in skip]
    return [(index, float(similarities[index])) for index in keep[:top]]


def contact_sheet(query: Path, neighbours: list[Neighbour], out: str | Path) -> Path:
    """A PNG: the query (red border) then its neighbours, each captioned with rank and similarity."""
    tiles = [tile(query, "query", border=QUERY_BORDER)]
    tiles += [tile(item.path, f"#{rank} cos {item.similarity:.3f}") for rank, item in enumerate(neighbours, 1)]
    return write_sheet(tiles, out)


def write_sheet(tiles: list[Image.Image], out: str | Path) -> Path:
    """Tiles in rows of COLUMNS, written atomically as a PNG."""
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
    """One picture file in a tile, captioned with its label and file name."""
    from fec.preprocessing import open_image

    return picture_tile(open_image(path), caption, path.name, border)


def picture_tile(picture: Image.Image, caption: str, name: str, border: tuple[int, int, int] | None = None) -> Image.Image:
    """A picture fitted into a TILE square with a two-line caption (a label, then `name`) below."""
    picture = ImageOps.contain(picture, (TILE - 8, TILE - 8))
    cell = Image.new("RGB", (TILE, TILE + CAPTION), "white")
    cell.paste(picture, ((TILE - picture.width) // 2, (TILE - picture.height) // 2))
    draw = ImageDraw.Draw(cell)
    if border:
        draw.rectangle([1, 1, TILE - 2, TILE - 2], outline=border, width=3)
    draw.text((4, TILE + 1), caption, fill="black")
    draw.text((4, TILE + 14), name[:26], fill=(90, 90, 90))
    return cell
