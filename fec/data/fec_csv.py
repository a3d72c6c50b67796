"""Read and write triplet files: the official FEC CSV and the original implementation's list format.

Official FEC row (no header): three times (image URL, box left, box right, box top, box bottom), then the
triplet type, then (annotator id, annotation) pairs, usually six. Fields may be quoted or not.
Legacy list row: `img1,img2,img3,label,type` with label 1..3 naming the odd image.

Malformed rows raise `DataError("file:line: what is wrong")`, or are collected in `bad_rows` when
`skip_bad_rows` is set: nothing is ever silently mislabelled or dropped.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from fec.data.triplets import FaceBox, FaceRef, Triplet, TripletType
from fec.errors import DataError
from fec.io import atomic_open

FACE_FIELDS = 5  # url, left, right, top, bottom
TYPE_FIELD = 3 * FACE_FIELDS
LEGACY_FIELDS = 5
FULL_BOX = FaceBox(0.0, 1.0, 0.0, 1.0)


@dataclass
class BadRow:
    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


@dataclass
class TripletFile:
    """What a triplet file holds: the parsed triplets and every row that could not be parsed."""

    path: Path
    triplets: list[Triplet] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)
    format: str = "fec"


class _RowError(ValueError):
    pass


def read_triplets(path: str | os.PathLike, skip_bad_rows: bool = False) -> TripletFile:
    """Parse an FEC CSV or a legacy list file (detected from the first row's shape)."""
    path = Path(path)
    rows = _read_rows(path)
    legacy = bool(rows) and _looks_legacy(rows[0][1])
    parse_row = _parse_legacy_row if legacy else _parse_fec_row
    result = TripletFile(path=path, format="legacy" if legacy else "fec")
    for line, fields in rows:
        try:
            faces, kind, annotations = parse_row(fields)
        except _RowError as exc:
            bad = BadRow(str(path), line, str(exc))
            if not skip_bad_rows:
                raise DataError(f"{bad} (use --skip-bad-rows to count such rows and go on)") from None
            result.bad_rows.append(bad)
            continue
        result.triplets.append(Triplet(faces, kind, annotations, source=str(path), line=line))
    return result


def write_fec_csv(path: str | os.PathLike, triplets: list[Triplet]) -> None:
    """Write triplets in the official FEC CSV format, atomically."""
    with atomic_open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        for triplet in triplets:
            row: list = []
            for face in triplet.faces:
                box = face.box
                row += [face.url, *(round(v, 6) for v in (box.left, box.right, box.top, box.bottom))]
            row.append(triplet.type.value)
            for annotator, label in triplet.annotations:
                row += [annotator, label]
            writer.writerow(row)


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected an FEC-format CSV)")
    rows = []
    reader = None
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # a BOM is not part of the first URL
            reader = csv.reader(handle, skipinitialspace=True)
            for fields in reader:
                if fields and any(f.strip() for f in fields):
                    rows.append((reader.line_num, [f.strip() for f in fields]))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text CSV file ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:  # the reader has counted the lines it read, the bad one included
        line = reader.line_num if reader is not None else 0
        raise DataError(f"{path}:{line}: unreadable CSV ({exc}); fix or remove this row") from None
    return rows


def _looks_legacy(fields: list[str]) -> bool:
    if len(fields) != LEGACY_FIELDS:
        return False
    try:
        TripletType.parse(fields[4])
    except ValueError:
        return False
    return True


def _parse_fec_row(fields: list[str]) -> tuple[tuple[FaceRef, ...], TripletType, tuple]:
    if len(fields) < TYPE_FIELD + 3:
        raise _RowError(f"expected at least {TYPE_FIELD + 3} fields (3 faces x 5, type, one rater pair), got {len(fields)}")
    faces = tuple(_parse_face(fields[i : i + FACE_FIELDS], i // FACE_FIELDS + 1) for i in range(0, TYPE_FIELD, FACE_FIELDS))
    kind = _parse_type(fields[TYPE_FIELD])
    rater_fields = fields[TYPE_FIELD + 1 :]
    if len(rater_fields) % 2:
        raise _RowError(f"rater fields must come in (annotator id, annotation) pairs, got {len(rater_fields)} fields")
    annotations = tuple(
        (rater_fields[i] or _fail("empty annotator id"), _parse_label(rater_fields[i + 1], f"annotation {i // 2 + 1}"))
        for i in range(0, len(rater_fields), 2)
    )
    return faces, kind, annotations


def _parse_legacy_row(fields: list[str]) -> tuple[tuple[FaceRef, ...], TripletType, tuple]:
    if len(fields) != LEGACY_FIELDS:
        raise _RowError(f"expected {LEGACY_FIELDS} fields (img1,img2,img3,label,type), got {len(fields)}")
    for index, image in enumerate(fields[:3], start=1):
        if not image:
            raise _RowError(f"image {index} path is empty")
    faces = tuple(FaceRef(image, FULL_BOX) for image in fields[:3])
    label = _parse_label(fields[3], "label")
    return faces, _parse_type(fields[4]), (("legacy", label),)


def _parse_face(fields: list[str], index: int) -> FaceRef:
    url, *coords = fields
    if not url:
        raise _RowError(f"face {index}: image URL is empty")
    try:
        box = FaceBox(*(float(value) for value in coords))
    except ValueError:
        raise _RowError(f"face {index}: box fields must be numbers, got {coords}") from None
    problem = box.problem()
    if problem:
        raise _RowError(f"face {index}: {problem}")
    return FaceRef(url, box)


def _parse_type(text: str) -> TripletType:
    try:
        return TripletType.parse(text)
    except ValueError as exc:
        raise _RowError(str(exc)) from None


def _parse_label(text: str, what: str) -> int:
    try:
        label = int(text)
    except ValueError:
        raise _RowError(f"{what} must be 1, 2 or 3, got {text!r}") from None
    if label not in (1, 2, 3):
        raise _RowError(f"{what} must be 1, 2 or 3 (the odd face), got {label}")
    return label


def _fail(reason: str):
    raise _RowError(reason)
