"""What fec-embed does, as library calls: embed picture files or every face of photos (locally from a checkpoint
or through a server), refuse or skip the ones that fail, search the query's nearest expressions, write a
contact sheet and the embeddings. The command only parses its options and prints what these return.

    search = search_pictures(picture_embedder(None, "http", "fecnet", "runs/demo/best.pt"), ["faces/"],
                             query=Path("me.jpg"), top=5, sheet=Path("similar.png"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fec.embedding.photos import (
    FaceRecord,
    LocalPhotoEmbedder,
    PhotoResult,
    ServerPhotoEmbedder,
    embed_photos,
    face_sheet,
    query_face,
    similar_faces,
)
from fec.embedding.pictures import EmbeddingResult, embed_files, list_images, split_query
from fec.embedding.retrieval import Neighbour, contact_sheet, nearest
from fec.errors import DataError, FecError
from fec.triton.serving import MAX_FACES

PICTURE_OUTPUTS = (".npy", ".jsonl")
PHOTO_OUTPUTS = (".jsonl", ".npz")


def check_output(out: Path | None, photos: bool) -> None:
    """--out must name a format the result can be written in (before any work)."""
    suffixes = PHOTO_OUTPUTS if photos else PICTURE_OUTPUTS
    if out is not None and out.suffix not in suffixes:
        with_detect = "with --detect, " if photos else ""
        raise DataError(f"{out}: {with_detect}--out must end in {' or '.join(suffixes)}")


def refuse_failures(failures: dict[Path, str], skip_bad: bool) -> list[str]:
    """Pictures that failed: FecError naming the first three, or with `skip_bad` one line each to warn with."""
    lines = [f"{path}: {reason}" for path, reason in failures.items()]
    if lines and not skip_bad:
        raise FecError(f"{len(failures)} pictures failed (use --skip-bad to go on without them): " + "; ".join(lines[:3]))
    return lines


@dataclass
class PictureSearch:
    """Embedded pictures, the ones skipped, and the query's nearest expressions (when a query was given)."""

    result: EmbeddingResult
    skipped: list[str] = field(default_factory=list)
    neighbours: list[Neighbour] = field(default_factory=list)


def search_pictures(embedder, images: list[str | Path], query: Path | None = None, top: int = 5,
                    sheet: Path | None = None, batch_size: int = 16, concurrency: int = 1, progress: bool = False,
                    skip_bad: bool = False) -> PictureSearch:
    """Embed every picture (and the query, last); with a query, its `top` nearest pictures and their sheet."""
    paths = list_images(list(images))
    result = embed_files(embedder, paths + [query] if query is not None else paths, batch_size, concurrency, progress)
    search = PictureSearch(result, refuse_failures(result.failures, skip_bad))
    if query is not None:
        query_vector: np.ndarray = split_query(result, query)
        search.neighbours = nearest(query_vector, result.embeddings, result.paths, top, exclude=query)
        contact_sheet(query, search.neighbours, sheet)
    return search


def photo_embedder(url: str | None, protocol: str, model: str, checkpoint: str | Path | None,
                   box_convention: str | None = None, max_faces: int = MAX_FACES):
    """Photos -> faces and embeddings through the server at `url` (its repository's cap), else with `checkpoint`
    here, cropped by `box_convention` (a file, `none`, or None for the checkpoint's own), `max_faces` a photo."""
    if url is not None:
        return ServerPhotoEmbedder(url, protocol, model)
    return LocalPhotoEmbedder(checkpoint, box_convention=box_convention, max_faces=max_faces)


@dataclass
class PhotoSearch:
    """Every face found, the photos that were read, and the query face's nearest expressions."""

    result: PhotoResult
    photos: int                                      # photos read (the inputs less those that failed)
    skipped: list[str] = field(default_factory=list)
    query: FaceRecord | None = None
    neighbours: list[tuple[FaceRecord, float]] = field(default_factory=list)


def search_photos(embedder, images: list[str | Path], query: Path | None = None, top: int = 5, sheet: Path | None = None,
                  concurrency: int = 1, progress: bool = False, skip_bad: bool = False) -> PhotoSearch:
    """Every face of every photo; with a query photo (among the inputs or not), its best face's `top` nearest
    faces and their sheet. DataError when no photo holds a face."""
    paths = list_images(list(images))
    extra_query = query is not None and query.resolve() not in {path.resolve() for path in paths}
    result = embed_photos(embedder, paths + [query] if extra_query else paths, concurrency, progress)
    skipped = refuse_failures(result.failures, skip_bad)
    query_record = None
    if query is not None:
        query = query if extra_query else next(path for path in paths if path.resolve() == query.resolve())
        query_record = query_face(result, query)
        result = result.without(query) if extra_query else result
    search = PhotoSearch(result, len(paths) - len(result.failures), skipped, query_record)
    if not result.records:
        needs = " (--top needs faces to search)" if query else ""
        raise DataError(f"no face found in any of the {search.photos} photos{needs}")
    if query_record is not None:
        search.neighbours = similar_faces(result, query_record, top)
        face_sheet(query_record, search.neighbours, sheet)
    return search
