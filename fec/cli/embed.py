"""`fec-embed`: pictures -> expression embeddings, through a Triton server or locally; nearest-expression search."""

from __future__ import annotations

from pathlib import Path

import click

from fec.artifacts import MAX_BATCH
from fec.cli.common import OutputPath, quiet_option, show_progress, user_errors
from fec.hardware import MAX_THREADS
from fec.runtimes.triton_client import DEFAULT_ENSEMBLE, PROTOCOLS
from fec.triton.serving import MAX_FACES


@click.command(help="Embed pictures (files, or folders searched recursively) through a Triton server (--url) or a checkpoint "
                    "(--checkpoint). With --similar, list the --top pictures whose expression is closest to a "
                    "query picture and write a contact sheet PNG. With --detect, the pictures are photos: every "
                    "face in each is found, levelled and embedded (records with photo, face, box, landmarks, score, "
                    "embedding), and --similar searches over faces with the query photo's best face.")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--url", help="Server, e.g. http://127.0.0.1:8000 or 127.0.0.1:8001 with --protocol grpc.")
@click.option("--protocol", type=click.Choice(PROTOCOLS), default=PROTOCOLS[0], show_default=True)
@click.option("--model", default=DEFAULT_ENSEMBLE, show_default=True, help="Ensemble name on the server.")
@click.option("--checkpoint", type=click.Path(path_type=Path), help="Embed locally with this checkpoint instead.")
@click.option("--out", type=OutputPath(),
              help="Write embeddings: FILE.npy (+ FILE.paths.txt) or FILE.jsonl; with --detect FILE.jsonl or FILE.npz.")
@click.option("--detect", is_flag=True, help="Find every face in each photo (MTCNN) and embed each face "
                                             "(through the server's <model>_photo model with --url).")
@click.option("--box-convention", metavar="FILE|none",
              help="With --detect --checkpoint: crop detected faces by this box convention (fec-data fit-boxes) instead "
                   "of the one the checkpoint records; none: by the detector's boxes as they are.")
@click.option("--max-faces", type=click.IntRange(1, MAX_BATCH), default=MAX_FACES, show_default=True,
              help="With --detect --checkpoint: embed a photo's best faces up to this many; the others are counted "
                   "(a server applies its repository's cap).")
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH), default=16, show_default=True, help="Pictures per request.")
@click.option("--concurrency", type=click.IntRange(1, MAX_THREADS), default=4, show_default=True,
              help="Requests in flight (a client thread each).")
@click.option("--similar", "query", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Query picture for retrieval.")
@click.option("--top", type=click.IntRange(min=1), default=8, show_default=True, help="Neighbours to list with --similar.")
@click.option("--sheet", type=OutputPath(), default=Path("similar.png"), show_default=True,
              help="Contact sheet written with --similar.")
@click.option("--skip-bad", is_flag=True, help="Warn about unreadable pictures instead of failing.")
@quiet_option
@user_errors
def main(images, url, protocol, model, checkpoint, out, detect, box_convention, max_faces, batch_size, concurrency, query,
         top, sheet, skip_bad, quiet):
    if (url is None) == (checkpoint is None):
        raise click.UsageError("give exactly one of --url (a server) or --checkpoint (local)")
    if url and box_convention is not None:
        raise click.UsageError("--box-convention applies to --checkpoint; a server crops by its repository's "
                               "(fec-triton --photos --box-convention)")
    from fec.embedding.pictures import picture_embedder
    from fec.embedding.search import check_output, photo_embedder

    check_output(out, photos=detect)
    if detect:
        return embed_photos(images, photo_embedder(url, protocol, model, checkpoint, box_convention, max_faces), out,
                            concurrency if url else 1, query, top, sheet, skip_bad, quiet)
    embed_pictures(images, picture_embedder(url, protocol, model, checkpoint), out, batch_size, concurrency if url else 1,
                   query, top, sheet, skip_bad, quiet)


def embed_pictures(images, embedder, out, batch_size, concurrency, query, top, sheet, skip_bad, quiet) -> None:
    from fec.embedding.pictures import save_embeddings
    from fec.embedding.search import search_pictures

    search = search_pictures(embedder, list(images), query, top, sheet, batch_size, concurrency, show_progress(quiet),
                             skip_bad)
    warn_skipped(search.skipped)
    if query is not None and not quiet:
        say_nearest(str(query), [(str(item.path), item.similarity) for item in search.neighbours], sheet)
    if out is not None:
        written = save_embeddings(search.result, out)
        say(quiet, f"wrote {', '.join(map(str, written))}")
    say(quiet, f"embedded {len(search.result.paths)} pictures with {embedder.describe()}")


def embed_photos(images, embedder, out, concurrency, query, top, sheet, skip_bad, quiet) -> None:
    from fec.embedding.photos import label, save_faces
    from fec.embedding.search import search_photos

    search = search_photos(embedder, list(images), query, top, sheet, concurrency, show_progress(quiet), skip_bad)
    warn_skipped(search.skipped)
    for photo, count in search.result.left_out.items():
        click.echo(f"warning: {photo}: {count} faces beyond the per-photo cap were left out (--max-faces)", err=True)
    no_face = search.result.no_face
    if no_face:  # they are in --out too: never dropped silently
        click.echo(f"warning: no face found in {len(no_face)} of {search.photos} photos: {', '.join(map(str, no_face))}",
                   err=True)
    if search.query is not None and not quiet:
        say_nearest(label(search.query), [(f"{record.photo} face {record.index}", similarity)
                                          for record, similarity in search.neighbours], sheet)
    if out is not None:
        say(quiet, f"wrote {save_faces(search.result, out)}")
    say(quiet, f"found {len(search.result.records)} faces in {search.photos - len(no_face)} of {search.photos} photos "
               f"with {embedder.describe()}")


def warn_skipped(skipped: list[str]) -> None:
    for line in skipped:
        click.echo(f"warning: skipped {line}", err=True)


def say_nearest(query: str, neighbours: list[tuple[str, float]], sheet: Path) -> None:
    click.echo(f"closest expressions to {query}:")
    for rank, (name, similarity) in enumerate(neighbours, 1):
        click.echo(f"{rank:>3}  cos {similarity:+.4f}  {name}")
    click.echo(f"contact sheet: {sheet}")


def say(quiet: bool, line: str) -> None:
    if not quiet:
        click.echo(line)


if __name__ == "__main__":
    main()
