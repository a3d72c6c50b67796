"""`fec-data`: make, inspect and fetch FEC-format datasets."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fec.cli.common import OutputPath, quiet_option, show_progress, user_errors
from fec.cli.download import download
from fec.detect.registry import DEFAULT_DETECTOR


@click.group(help="Make, inspect and fetch FEC-format triplet datasets.")
def main() -> None:
    pass


@main.command(help="Write a synthetic FEC-format dataset (train.csv, test.csv, images/).")
@click.option("--out", type=OutputPath(), required=True, help="Output folder.")
@click.option("--triplets", type=int, default=3000, show_default=True, help="Triplets in train + test.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--image-size", type=int, default=128, show_default=True, help="Face size in pixels.")
@click.option("--test-fraction", type=float, default=0.2, show_default=True)
@quiet_option
@user_errors
def synth(out: Path, triplets: int, seed: int, image_size: int, test_fraction: float, quiet: bool) -> None:
    from fec.data.synth import write_synthetic_dataset

    summary = write_synthetic_dataset(out, triplets, seed, image_size, test_fraction, quiet=not show_progress(quiet))
    if not quiet:
        click.echo(json.dumps(summary.to_dict(), indent=2))
        click.echo(f"wrote {out / 'train.csv'} and {out / 'test.csv'}")


@main.command(help="Summarise a triplet CSV: types, raters, agreement, images, malformed rows.")
@click.argument("csv_path", metavar="CSV", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@user_errors
def inspect(csv_path: Path, as_json: bool) -> None:
    from fec.data.inspect import format_summary, summarize

    summary = summarize(csv_path)
    click.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))


@main.command("fit-boxes", help="Fit the dataset's box convention: where its face boxes sit relative to a face "
                                  "detector's box (run inside a sample of its boxes). fec-train records it with the model, "
                                  "and detected faces (fec-embed --detect, the served photo model) are cropped by it.")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--faces", type=click.IntRange(1), default=500, show_default=True, help="Distinct faces to sample.")
@click.option("--detector", default=DEFAULT_DETECTOR, show_default=True, help="Face detector (fec.detect).")
@click.option("--seed", type=int, default=0, show_default=True, help="Which faces are sampled.")
@click.option("--store", type=click.Path(path_type=Path), help="Face store with kept raw pictures (remote URLs); "
                                                                "default: faces/ beside the CSV.")
@click.option("--data-root", type=click.Path(path_type=Path), help="Folder local pictures must lie in (default: the "
                                                                    "CSV's folder).")
@click.option("--allow-outside-paths", is_flag=True, help="Local pictures may lie anywhere.")
@click.option("--out", type=OutputPath(), help="Convention file; default: box_convention.json beside the "
                                                              "CSV, where fec-train finds it.")
@quiet_option
@user_errors
def fit_boxes(data: Path, faces: int, detector: str, seed: int, store: Path | None, data_root: Path | None,
              allow_outside_paths: bool, out: Path | None, quiet: bool) -> None:
    from fec.data.box_fit import CONVENTION_FILE, fit_dataset_boxes, write_fit
    from fec.data.dataset import training_csv
    from fec.detect import create_detector

    csv_path = training_csv(data)
    fit = fit_dataset_boxes(csv_path, create_detector(detector), faces, seed, store, data_root, allow_outside_paths,
                            quiet=not show_progress(quiet))
    path = write_fit(out or csv_path.parent / CONVENTION_FILE, fit)
    if not quiet:
        click.echo(fit.summary())
        click.echo(f"wrote {path}")


main.add_command(download)


if __name__ == "__main__":
    main()
