"""Choosing triplets: each split's own face pool, a third of each triplet type, and their records.

Train and test draw from separate pools so no test picture is seen in training; the records reference
each face by picture path and normalised box, exactly as the official CSV does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fec.data.synth.expressions import CATEGORIES, odd_face
from fec.data.synth.faces import Face, face_box, sample_faces
from fec.data.synth.raters import RaterPool, simulate_raters
from fec.data.triplets import FaceRef, Triplet, TripletType

SPLITS = ("train", "test")
POOL_PER_TRIPLET = 0.6
TYPE_OF_CLASS_COUNT = {1: TripletType.ONE_CLASS, 2: TripletType.TWO_CLASS, 3: TripletType.THREE_CLASS}


@dataclass
class SplitSample:
    """A split's face pool, its triplets (face indices, type) and the raters' annotations."""

    name: str
    faces: list[Face]
    members: np.ndarray  # (n, 3) face indices
    types: list[TripletType]
    raters: np.ndarray  # (n, RATERS_PER_TRIPLET) indices into the rater pool
    labels: np.ndarray  # (n, RATERS_PER_TRIPLET) annotations 1..3
    true_odd: np.ndarray  # (n,) noise-free odd face 1..3


def split_counts(triplets: int, test_fraction: float) -> dict[str, int]:
    """Triplets per split: at least one in each."""
    test = min(max(1, round(triplets * test_fraction)), triplets - 1)
    return {"train": triplets - test, "test": test}


def sample_split(rng: np.random.Generator, name: str, count: int, raters: RaterPool) -> SplitSample:
    """A face pool, `count` triplets drawn from it and six annotations per triplet."""
    faces = sample_faces(rng, name, pool_size(count))
    by_category = [np.array([i for i, f in enumerate(faces) if f.category == c]) for c in range(len(CATEGORIES))]
    types = balanced_types(rng, count)
    members = np.array([sample_members(rng, kind, by_category) for kind in types]).reshape(count, 3)
    expressions = np.stack([faces[i].expression for i in members.ravel()]).reshape(count, 3, -1)
    chosen, labels = simulate_raters(rng, expressions, raters)
    return SplitSample(name, faces, members, types, chosen, labels, odd_face(expressions))


def pool_size(count: int) -> int:
    """About 0.6 faces per triplet, and at least three of each category."""
    return max(round(POOL_PER_TRIPLET * count), 3 * len(CATEGORIES))


def balanced_types(rng: np.random.Generator, count: int) -> list[TripletType]:
    """A third of each triplet type, in random order."""
    return [TYPE_OF_CLASS_COUNT[int(k) + 1] for k in rng.permutation(np.arange(count) % 3)]


def sample_members(rng: np.random.Generator, kind: TripletType, by_category: list[np.ndarray]) -> list[int]:
    """Three distinct faces whose categories fit the triplet type, in random order."""
    if kind is TripletType.ONE_CLASS:
        return [int(i) for i in rng.choice(by_category[int(rng.integers(len(by_category)))], 3, replace=False)]
    if kind is TripletType.TWO_CLASS:
        pair, single = rng.choice(len(by_category), 2, replace=False)
        members = [*rng.choice(by_category[pair], 2, replace=False), rng.choice(by_category[single])]
    else:
        members = [rng.choice(by_category[c]) for c in rng.choice(len(by_category), 3, replace=False)]
    return [int(members[i]) for i in rng.permutation(3)]


def used_faces(split: SplitSample) -> list[Face]:
    """The faces that appear in at least one triplet, in pool order."""
    used = set(split.members.ravel().tolist())
    return [face for i, face in enumerate(split.faces) if i in used]


def to_triplets(split: SplitSample, raters: RaterPool, image_size: int) -> list[Triplet]:
    """The split's triplets as records, each face referenced by picture path and box."""
    refs = {}
    rows = []
    for members, kind, chosen, labels in zip(split.members, split.types, split.raters, split.labels):
        faces = tuple(refs.setdefault(int(i), face_ref(split.faces[int(i)], image_size)) for i in members)
        annotations = tuple((raters.ids[int(r)], int(label)) for r, label in zip(chosen, labels))
        rows.append(Triplet(faces, kind, annotations))
    return rows


def face_ref(face: Face, image_size: int) -> FaceRef:
    """The face's picture path (relative to the dataset folder) and its normalised box."""
    return FaceRef(face.url, face_box(face.identity, image_size))
