"""`fec-embed --detect`: the photo half of fec-embed (every face of every photo), kept apart to stay short."""

from __future__ import annotations

from pathlib import Path

import click

from fec.cli.common import report_failures, show_progress


def embed_photos_command(images: list[Path], url: str | None, protocol: str, model: str, checkpoint: Path | None,
                         out: Path | None, concurrency: int, query: Path | None, top: int, sheet: Path, skip_bad: bool,
                         quiet: bool, box_convention: str | None = None) -> None:
    """Detect and embed, say which photos hold no face, then write the records and search."""
    from fec.embedding.photos import LocalPhotoEmbedder, ServerPhotoEmbedder, embed_photos, query_face, save_faces
    from fec.embedding.pictures import list_images
    from fec.errors import DataError

    if out is not None and out.suffix not in (".jsonl", ".npz"):
        raise DataError(f"{out}: with --detect, --out must end in .jsonl or .npz")
    if url and box_convention is not None:
        raise click.UsageError("--box-convention applies to --checkpoint; a server crops by its repository's "
                               "(fec-triton --photos --box-convention)")
    embedder = ServerPhotoEmbedder(url, protocol, model) if url else LocalPhotoEmbedder(checkpoint, box_convention=box_convention)
    paths = list_images(images)
    extra_query = query is not None and query.resolve() not in {path.resolve() for path in paths}
    result = embed_photos(embedder, paths + [query] if extra_query else paths, concurrency if url else 1,
                          show_progress(quiet))
    report_failures(result.failures, skip_bad)
    query_record = None
    if query is not None:
        query = query if extra_query else next(path for path in paths if path.resolve() == query.resolve())
        query_record = query_face(result, query)
        result = result.without(query) if extra_query else result
    photos = len(paths) - len(result.failures)
    say_no_face(result.no_face, photos)
    if not result.records:
        raise DataError(f"no face found in any of the {photos} photos" + (" (--top needs faces to search)" if query else ""))
    if query_record is not None:
        show_similar_faces(result, query_record, top, sheet, quiet)
    if out is not None:
        written = save_faces(result, out)
        if not quiet:
            click.echo(f"wrote {written}")
    if not quiet:
        click.echo(f"found {len(result.records)} faces in {photos - len(result.no_face)} of {photos} photos "
                   f"with {embedder.describe()}")


def say_no_face(no_face: list[Path], photos: int) -> None:
    """Photos without a face, in one line on stderr (they are in --out too): never dropped silently."""
    if no_face:
        click.echo(f"warning: no face found in {len(no_face)} of {photos} photos: {', '.join(map(str, no_face))}", err=True)


def show_similar_faces(result, query_record, top: int, sheet: Path, quiet: bool) -> None:
    from fec.embedding.photos import face_sheet, label, similar_faces

    neighbours = similar_faces(result, query_record, top)
    face_sheet(query_record, neighbours, sheet)
    if quiet:
        return
    click.echo(f"closest expressions to {label(query_record)}:")
    for rank, (record, similarity) in enumerate(neighbours, 1):
        click.echo(f"{rank:>3}  cos {similarity:+.4f}  {record.photo} face {record.index}")
    click.echo(f"contact sheet: {sheet}")
