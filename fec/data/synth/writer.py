"""The generator's entry point: check the arguments, sample everything, write the dataset folder.

Everything is drawn from one `np.random.default_rng(seed)` in a fixed order (raters, then each split),
so a seed always gives the same bytes: pictures, `train.csv`, `test.csv`, `expressions.csv`, `synth.json`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from fec.data.face_store import MAX_FACE_SIZE
from fec.data.fec_csv import write_fec_csv
from fec.data.synth.faces import Face
from fec.data.synth.ground_truth import EXPRESSIONS_FILE, write_expressions
from fec.data.synth.picture import draw_picture
from fec.data.synth.raters import sample_rater_pool
from fec.data.synth.splits import SPLITS, sample_split, split_counts, to_triplets, used_faces
from fec.data.synth.summary import SynthSummary, parameters, summarize
from fec.errors import DataError
from fec.io import atomic_path, write_json


def write_synthetic_dataset(
    out: Path,
    triplets: int,
    seed: int = 0,
    image_size: int = 128,
    test_fraction: float = 0.2,
    quiet: bool = True,
) -> SynthSummary:
    """Write train.csv, test.csv, images/ and synth.json under `out`; return the summary."""
    validate_arguments(triplets, image_size, test_fraction, seed)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder; choose another --out")
    rng = np.random.default_rng(seed)
    raters = sample_rater_pool(rng)
    counts = split_counts(triplets, test_fraction)
    splits = [sample_split(rng, name, counts[name], raters) for name in SPLITS]
    records = {split.name: to_triplets(split, raters, image_size) for split in splits}
    faces = [face for split in splits for face in used_faces(split)]
    write_pictures(out, faces, image_size, quiet)
    for name, rows in records.items():
        write_fec_csv(out / f"{name}.csv", rows)
    write_expressions(out / EXPRESSIONS_FILE, faces)
    summary = summarize(splits, records, len(faces))
    settings = parameters(triplets, seed, image_size, test_fraction)
    write_json(out / "synth.json", {"summary": summary.to_dict(), "parameters": settings})
    return summary


MAX_SYNTH_TRIPLETS = 1_000_000  # twice the real FEC dataset's ~500K


def validate_arguments(triplets: int, image_size: int, test_fraction: float, seed: int = 0) -> None:
    """Raise DataError with a one-line message for arguments that cannot make a dataset."""
    if not isinstance(triplets, (int, np.integer)) or not 10 <= triplets <= MAX_SYNTH_TRIPLETS:
        raise DataError(f"synthetic dataset needs a whole number of triplets in [10, {MAX_SYNTH_TRIPLETS}], got {triplets!r}")
    if not isinstance(image_size, (int, np.integer)) or not 32 <= image_size <= MAX_FACE_SIZE:
        raise DataError(f"synthetic face size must be a whole number of pixels in [32, {MAX_FACE_SIZE}], got {image_size!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"synthetic dataset seed must be a whole number >= 0, got {seed!r}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise DataError(f"test fraction must lie strictly between 0 and 1, got {test_fraction}")


def write_pictures(out: Path, faces: list[Face], image_size: int, quiet: bool) -> None:
    """Draw every face into its picture and save it as PNG, atomically."""
    for face in tqdm(faces, desc="pictures", unit="picture", disable=quiet, leave=False):
        with atomic_path(out / face.url) as tmp:
            draw_picture(face, image_size).save(tmp, format="PNG")
