"""Triplet records: three face references, a type and the raters' annotations.

An annotation k in {1, 2, 3} names the odd face; the other two are the most similar pair.
The majority label is the annotation chosen most often. Ties are broken in favour of the tied label
that appears first in the row (the earliest rater among the tied labels), so the result never
depends on label numbering. Agreement is the share of raters who chose the majority label.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass

from fec.preprocessing import FaceBox  # the box type lives with crop_box; re-exported here

HIGH_AGREEMENT = 2 / 3


class TripletType(enum.StrEnum):
    ONE_CLASS = "ONE_CLASS_TRIPLET"
    TWO_CLASS = "TWO_CLASS_TRIPLET"
    THREE_CLASS = "THREE_CLASS_TRIPLET"

    @classmethod
    def parse(cls, text: str) -> TripletType:
        """Accept the official names and the short forms (ONE_CLASS, one_class)."""
        key = text.strip().upper()
        for member in cls:
            if key in (member.value, member.name):
                return member
        raise ValueError(f"unknown triplet type {text!r} (expected one of {', '.join(m.value for m in cls)})")


TRIPLET_TYPES = tuple(TripletType)


@dataclass(frozen=True)
class FaceRef:
    """One face: where its picture lives and the box around the face."""

    url: str
    box: FaceBox


@dataclass(frozen=True)
class Triplet:
    faces: tuple[FaceRef, FaceRef, FaceRef]
    type: TripletType
    annotations: tuple[tuple[str, int], ...]
    source: str = ""
    line: int = 0

    @property
    def odd(self) -> int:
        """The majority label, 1..3 (the face the raters chose as the odd one out)."""
        return majority_label(self.annotations)[0]

    @property
    def agreement(self) -> float:
        """Share of raters who chose the majority label."""
        return majority_label(self.annotations)[1]

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}"


def majority_label(annotations: tuple[tuple[str, int], ...]) -> tuple[int, float]:
    """Return (label, agreement); ties go to the tied label that appears first in the row."""
    if not annotations:
        raise ValueError("a triplet needs at least one annotation")
    votes = Counter(label for _, label in annotations)
    best = max(votes.values())
    label = next(label for _, label in annotations if votes[label] == best)
    return label, best / len(annotations)


def agrees(agreement, threshold: float = HIGH_AGREEMENT):
    """Whether at least `threshold` of the raters agree (a number or a numpy array of them); 4/6 is 2/3 although
    the two fractions round apart."""
    return agreement >= threshold - 1e-9


def high_agreement(triplets: list[Triplet], threshold: float = HIGH_AGREEMENT) -> list[Triplet]:
    """The subset where at least `threshold` of the raters agree (two thirds by default)."""
    return [t for t in triplets if agrees(t.agreement, threshold)]
