"""`fec-eval`: triplet prediction accuracy of a checkpoint on an FEC-format CSV."""

from __future__ import annotations

from pathlib import Path

import click

from fec.artifacts import MAX_BATCH
from fec.cli.common import OutputPath, local_picture_options, quiet_option, show_progress, user_errors
from fec.data.face_store import MAX_FACE_SIZE
from fec.preprocessing import MIN_INPUT_SIZE


@click.command(help="Score a checkpoint on triplets: accuracy per type, overall and high-agreement.")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path), required=True, help="Test CSV, or a folder with test.csv.")
@click.option("--store", type=OutputPath(), help="Face store (default: faces/ beside the CSV).")
@click.option("--face-size", type=click.IntRange(MIN_INPUT_SIZE, MAX_FACE_SIZE), default=None,
              help="Stored face size (default: the checkpoint's training value).")
@click.option("--json", "json_path", type=OutputPath(), help="Write the accuracy table as JSON.")
@click.option("--embeddings", "embeddings_path", type=OutputPath(),
              help="Save a, b, c, odd, type, agreement, row arrays (.npz).")
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH), default=256, show_default=True)
@click.option("--skip-bad-rows", is_flag=True, help="Count malformed rows instead of stopping at the first.")
@local_picture_options
@quiet_option
@user_errors
def main(checkpoint, data, store, face_size, json_path, embeddings_path, device, batch_size, skip_bad_rows,
         data_root, allow_outside_paths, quiet):
    from fec.evaluate import evaluate_checkpoint
    from fec.io import write_json
    from fec.metrics import format_report

    result, warnings = evaluate_checkpoint(checkpoint, data, store=store, face_size=face_size, device=device,
                                           batch_size=batch_size, skip_bad_rows=skip_bad_rows, data_root=data_root,
                                           allow_outside_paths=allow_outside_paths, quiet=not show_progress(quiet))
    for line in warnings:
        click.echo(f"warning: {line}", err=True)
    if not quiet:
        click.echo(format_report(result.to_json()))
    if json_path:
        write_json(json_path, result.to_json())
    if embeddings_path:
        result.save_embeddings(embeddings_path)


if __name__ == "__main__":
    main()
