"""`fec-embed`: pictures -> expression embeddings, through a Triton server or locally; nearest-expression search."""

from __future__ import annotations

from pathlib import Path

import click

from fec.cli.common import OutputPath, quiet_option, report_failures, show_progress, user_errors
from fec.runtimes.triton_client import DEFAULT_ENSEMBLE


@click.command(help="Embed pictures (files, or folders searched recursively) through a Triton server (--url) or a checkpoint "
                    "(--checkpoint). With --similar, list the --top pictures whose expression is closest to a "
                    "query picture and write a contact sheet PNG. With --detect, the pictures are photos: every "
                    "face in each is found, levelled and embedded (records with photo, face, box, landmarks, score, "
                    "embedding), and --similar searches over faces with the query photo's best face.")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--url", help="Server, e.g. http://127.0.0.1:8000 or 127.0.0.1:8001 with --protocol grpc.")
@click.option("--protocol", type=click.Choice(["http", "grpc"]), default="http", show_default=True)
@click.option("--model", default=DEFAULT_ENSEMBLE, show_default=True, help="Ensemble name on the server.")
@click.option("--checkpoint", type=click.Path(path_type=Path), help="Embed locally with this checkpoint instead.")
@click.option("--out", type=OutputPath(),
              help="Write embeddings: FILE.npy (+ FILE.paths.txt) or FILE.jsonl; with --detect FILE.jsonl or FILE.npz.")
@click.option("--detect", is_flag=True, help="Find every face in each photo (MTCNN) and embed each face "
                                             "(through the server's <model>_photo model with --url).")
@click.option("--box-convention", metavar="FILE|none",
              help="With --detect --checkpoint: crop detected faces by this box convention (fec-data fit-boxes) instead "
                   "of the one the checkpoint records; none: by the detector's boxes as they are.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True, help="Pictures per request.")
@click.option("--concurrency", type=click.IntRange(min=1), default=4, show_default=True, help="Requests in flight.")
@click.option("--similar", "query", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Query picture for retrieval.")
@click.option("--top", type=click.IntRange(min=1), default=8, show_default=True, help="Neighbours to list with --similar.")
@click.option("--sheet", type=OutputPath(), default=Path("similar.png"), show_default=True,
              help="Contact sheet written with --similar.")
@click.option("--skip-bad", is_flag=True, help="Warn about unreadable pictures instead of failing.")
@quiet_option
@user_errors
def main(images, url, protocol, model, checkpoint, out, detect, box_convention, batch_size, concurrency, query, top, sheet,
         skip_bad, quiet):
    from fec.embedding.pictures import embed_files, list_images, picture_embedder, save_embeddings, split_query
    from fec.errors import DataError

    if (url is None) == (checkpoint is None):
        raise click.UsageError("give exactly one of --url (a server) or --checkpoint (local)")
    if detect:
        from fec.cli.embed_photos import embed_photos_command

        return embed_photos_command(list(images), url, protocol, model, checkpoint, out, concurrency, query, top, sheet,
                                    skip_bad, quiet, box_convention)
    if out is not None and out.suffix not in (".npy", ".jsonl"):
        raise DataError(f"{out}: --out must end in .npy or .jsonl")
    embedder = picture_embedder(url, protocol, model, checkpoint)
    paths = list_images(list(images))
    targets = paths + [query] if query is not None else paths
    result = embed_files(embedder, targets, batch_size, concurrency if url else 1, show_progress(quiet))
    report_failures(result.failures, skip_bad)
    if query is not None:
        show_similar(query, split_query(result, query), result, top, sheet, quiet)
    if out is not None:
        written = save_embeddings(result, out)
        if not quiet:
            click.echo(f"wrote {', '.join(map(str, written))}")
    if not quiet:
        click.echo(f"embedded {len(result.paths)} pictures with {embedder.describe()}")


def show_similar(query: Path, query_vector, result, top: int, sheet: Path, quiet: bool) -> None:
    from fec.embedding.retrieval import contact_sheet, nearest

    neighbours = nearest(query_vector, result.embeddings, result.paths, top, exclude=query)
    contact_sheet(query, neighbours, sheet)
    if quiet:
        return
    click.echo(f"closest expressions to {query}:")
    for rank, item in enumerate(neighbours, 1):
        click.echo(f"{rank:>3}  cos {item.similarity:+.4f}  {item.path}")
    click.echo(f"contact sheet: {sheet}")


if __name__ == "__main__":
    main()
