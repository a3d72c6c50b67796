"""`expressions.csv`: the true expression behind every picture, for analysis.

Benchmarks read it to ask where a model's accuracy comes from; training never does, so the dataset
otherwise takes exactly the code path of real FEC data.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from fec.data.synth.expressions import CATEGORIES, EXPRESSION_AXES
from fec.data.synth.faces import Face
from fec.errors import DataError
from fec.io import atomic_open

EXPRESSIONS_FILE = "expressions.csv"


def write_expressions(path: Path, faces: list[Face]) -> None:
    """The ground truth behind the pictures: one row per picture with its category and expression."""
    header = ["url", "category", "sub_expression", *EXPRESSION_AXES]
    with atomic_open(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for face in faces:
            writer.writerow([face.url, CATEGORIES[face.category], face.sub_expression,
                             *(f"{v:.6f}" for v in face.expression)])


def read_expressions(path: Path) -> dict[str, np.ndarray]:
    """`expressions.csv` as {picture url: expression vector}; DataError names a missing or bad file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
        return {row["url"]: np.array([float(row[axis]) for axis in EXPRESSION_AXES]) for row in rows}
    except FileNotFoundError:
        raise DataError(f"{path}: not found; it is written by `fec-data synth` (generator version 2 or later)") from None
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"{path}: not an expressions table as `fec-data synth` writes it ({error})") from None
