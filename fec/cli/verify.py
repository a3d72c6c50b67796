"""`fec-verify`: exported artifacts against PyTorch on real test faces; exit 0 only when all pass."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fec.artifacts import MAX_BATCH
from fec.cli.common import OutputPath, RegistryChoice, local_picture_options, quiet_option, show_progress, user_errors
from fec.data.face_store import MAX_FACE_SIZE
from fec.preprocessing import MIN_INPUT_SIZE
from fec.runtimes.backends import export_backends

FAILED_EXIT = 1


@click.command(help="Run the PyTorch reference and each export on the same test faces and compare embeddings and "
                    "triplet accuracy. EXPORT_DIR... are folders written by fec-export from one checkpoint. "
                    "Exit code: 0 all pass, 1 a check failed or a backend could not run, 2 bad input.")
@click.argument("export_dirs", metavar="EXPORT_DIR...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path), required=True, help="Test CSV, or a folder with test.csv.")
@click.option("--checkpoint", type=click.Path(path_type=Path), help="Reference checkpoint (default: the one in the manifest).")
@click.option("--backend", "backends", multiple=True, type=RegistryChoice(export_backends),
              help="Repeatable: a backend (the names fec-bench uses) that runs the export's file; one with a "
                   "precision of its own (openvino-bf16, onnxruntime-tensorrt-fp16) is judged in that precision. "
                   "Default: onnxruntime for ONNX exports, tensorrt for engines.")
@click.option("--json", "json_path", type=OutputPath(), help="Write the full result as JSON.")
@click.option("--max-abs", type=float, help="Override the max |error| tolerance.")
@click.option("--min-cos", type=float, help="Override the minimum cosine similarity.")
@click.option("--max-delta", type=float, help="Override the largest |accuracy delta| in points.")
@click.option("--store", type=OutputPath(), help="Face store (default: faces/ beside the CSV).")
@click.option("--face-size", type=click.IntRange(MIN_INPUT_SIZE, MAX_FACE_SIZE),
              help="Stored face size (default: the checkpoint's training value).")
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH), default=64, show_default=True)
@click.option("--no-record", is_flag=True, help="Do not store the result in each export's manifest.json.")
@local_picture_options
@quiet_option
@user_errors
def main(export_dirs, data, checkpoint, backends, json_path, max_abs, min_cos, max_delta, store, face_size, batch_size,
         no_record, data_root, allow_outside_paths, quiet):
    from fec.io import write_json
    from fec.verify import verify_exports

    overrides = {key: value for key, value in
                 {"max_abs": max_abs, "min_cos": min_cos, "max_delta_pt": max_delta}.items() if value is not None}
    result = verify_exports(list(export_dirs), data, checkpoint, list(backends) or None, overrides, store, face_size,
                            batch_size, record=not no_record, quiet=not show_progress(quiet),
                            allow_outside_paths=allow_outside_paths, data_root=data_root)
    click.echo(result.table())
    if json_path:
        write_json(json_path, result.to_json())
    sys.exit(0 if result.passed else FAILED_EXIT)


if __name__ == "__main__":
    main()
