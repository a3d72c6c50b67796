"""A synthetic FEC-format dataset: procedurally drawn faces judged by simulated raters.

The real FEC pictures cannot always be fetched, so this module writes a stand-in that takes exactly
the code path of real data: `train.csv` and `test.csv` in the official format, pictures under
`images/` with a normalised face box each, `synth.json` with a summary and the parameters, and
`expressions.csv`, the ground truth behind every picture (for analysis; training never reads it).

Generative model
----------------
Every face has two independent parameter sets, drawn from one `np.random.default_rng(seed)`:

* identity: head width and height, skin tone, eye colour, hair colour and style, background colour
  and clutter, a small pose change (shift, rotation, box scale) and the lighting (gain, gradient);
* expression: a point in a six-axis space (mouth curve, mouth opening, brow raise, brow tilt, eye
  opening, nose wrinkle): one of its category's three sub-expressions plus small Gaussian noise,
  clipped to the axis range.

Seven categories (neutral, happy, sad, surprise, anger, fear, disgust) each hold three
sub-expressions, as real categories do (the FEC paper's example: smiles range from shy smiles to
laughter). This is what gives ONE_CLASS triplets something to judge. Generator version 1 drew each
category as one prototype plus isotropic noise (0.13 per axis); a ONE_CLASS judgement then hinged on
differences under one pixel at the 96 px the models see, which the simulated raters still labelled 94%
consistently, and every model trained on it stayed at 37-47% on ONE_CLASS (benchmarks/README.md).

Each split has its own pool of faces (about 0.6 per triplet, balanced over categories), so no test
picture is seen in training. Triplets are drawn from the pool, a third of each type: ONE_CLASS (three faces
of one category), TWO_CLASS (two of one category, one of another) and THREE_CLASS (three categories).

Six raters per triplet, from a pool of thirty each with its own noise level and lapse rate, see the
three expression vectors plus Gaussian noise proportional to the triplet's mean pairwise distance
(Weber's law: a difference is judged relative to the differences around it, so fine ONE_CLASS
judgements are as reliable as coarse THREE_CLASS ones), call the closest pair similar and annotate
the third face as odd; a lapse gives a random answer. The noise-free answer is the odd face by true
expression distance; `oracle_accuracy` is the share of triplets whose majority label equals it, the
ceiling a perfect model could reach.

Each face is drawn at twice its size (for smooth edges) on a transparent tile, rotated, halved and
pasted at a random offset into a picture 1.3 to 2 times the face size along each axis.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from fec.data.fec_csv import write_fec_csv
from fec.data.triplets import FaceBox, FaceRef, Triplet, TripletType, majority_label
from fec.errors import DataError
from fec.io import atomic_open, atomic_path, write_json

CATEGORIES = ("neutral", "happy", "sad", "surprise", "anger", "fear", "disgust")
EXPRESSION_AXES = ("mouth_curve", "mouth_open", "brow_raise", "brow_tilt", "eye_open", "wrinkle")
# Three sub-expressions per category (the FEC paper's example: smiles range from shy smiles to
# laughter), one column per axis; curve, raise and tilt lie in [-1, 1], the rest in [0, 1]. Within a
# category the closest pair of sub-expressions is at least 0.25 closer than the next pair, so three faces
# showing three different sub-expressions still have a clear odd one, and every sub-expression lies
# closer to one of its own category than to any other category's.
SUB_EXPRESSIONS = np.array(
    [
        [  # neutral: relaxed, attentive, drowsy
            [0.0, 0.05, 0.0, 0.0, 0.5, 0.0],
            [0.05, 0.2, 0.2, 0.0, 0.65, 0.0],
            [-0.15, 0.0, -0.35, 0.05, 0.05, 0.0],
        ],
        [  # happy: closed smile, open smile with raised cheeks, laughter with squinting eyes
            [0.7, 0.05, 0.05, 0.0, 0.45, 0.1],
            [0.9, 0.4, 0.15, 0.0, 0.35, 0.3],
            [0.8, 0.9, 0.35, -0.1, 0.1, 0.7],
        ],
        [  # sad: pout, sorrow with inner brows up and heavy lids, crying
            [-0.6, 0.0, 0.05, -0.4, 0.4, 0.0],
            [-0.85, 0.05, 0.25, -0.85, 0.3, 0.0],
            [-0.75, 0.6, 0.45, -0.9, 0.05, 0.5],
        ],
        [  # surprise: mild, astonished with round mouth and wide eyes, delighted
            [0.0, 0.5, 0.6, 0.0, 0.85, 0.0],
            [0.0, 0.9, 0.9, 0.0, 1.0, 0.0],
            [0.75, 0.7, 0.85, -0.2, 0.9, 0.15],
        ],
        [  # anger: glare with brows down in a V, snarl, shouting
            [-0.45, 0.1, -0.8, 0.9, 0.5, 0.45],
            [-0.55, 0.3, -0.8, 0.9, 0.45, 0.8],
            [-0.3, 0.9, -0.6, 1.0, 0.85, 0.5],
        ],
        [  # fear: worry with brows up and together, fright with eyes wide, screaming
            [-0.3, 0.3, 0.5, -0.65, 0.85, 0.0],
            [-0.35, 0.6, 0.6, -0.7, 0.95, 0.0],
            [-0.55, 1.0, 0.85, -0.85, 1.0, 0.25],
        ],
        [  # disgust: distaste, disgust with nose wrinkle and narrowed eyes, revulsion
            [-0.45, 0.1, -0.25, 0.2, 0.35, 0.8],
            [-0.6, 0.25, -0.4, 0.35, 0.25, 1.0],
            [-0.9, 0.75, -0.7, 0.6, 0.05, 1.0],
        ],
    ]
)
AXIS_LOW = np.array([-1.0, 0.0, -1.0, -1.0, 0.0, 0.0])
AXIS_HIGH = np.ones(len(EXPRESSION_AXES))
WITHIN_SUB_EXPRESSION_NOISE = 0.05
GENERATOR_VERSION = 2  # 1: one prototype per category with noise 0.13 (ONE_CLASS judgements invisible at 96 px)

EXPRESSIONS_FILE = "expressions.csv"

POOL_PER_TRIPLET = 0.6
RATER_POOL = 30
RATERS_PER_TRIPLET = 6
RATER_NOISE = (0.02, 0.1)  # per-axis perception noise, relative to the triplet's mean pair distance
RATER_LAPSE = (0.0, 0.08)  # chance that a rater answers at random
PICTURE_SCALE = (1.3, 2.0)  # picture side / face side, per axis
SUPERSAMPLE = 2

SKIN_TONES = ((255, 224, 196), (241, 194, 155), (224, 172, 125), (198, 134, 86), (160, 100, 64), (120, 76, 48))
HAIR_COLOURS = ((25, 20, 18), (70, 45, 30), (120, 80, 45), (215, 185, 120), (165, 70, 35), (170, 170, 170))
EYE_COLOURS = ((60, 40, 25), (40, 90, 140), (70, 110, 60), (100, 80, 50))
HAIR_STYLES = ("bald", "short", "long", "bun", "curly")
SPLITS = ("train", "test")
TYPE_OF_CLASS_COUNT = {1: TripletType.ONE_CLASS, 2: TripletType.TWO_CLASS, 3: TripletType.THREE_CLASS}

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Identity:
    """Everything about a picture that is not the expression."""

    skin: Colour
    hair: Colour
    eyes: Colour
    background: Colour
    hair_style: str
    hairline: float  # angle (degrees) from the top where the hair meets the forehead
    head_width: float  # fraction of the face box
    head_height: float
    shift: tuple[float, float]  # head centre offset within the box
    rotation: float  # degrees
    box_scale: float  # face box side / image_size
    picture_scale: tuple[float, float]  # picture width, height / face box side
    offset: tuple[float, float]  # box position within the free margin, 0..1 per axis
    gain: float  # overall brightness
    light: tuple[float, float]  # brightness gradient along x and y
    clutter: tuple[tuple[str, tuple[float, float, float, float], Colour], ...]


@dataclass(frozen=True, eq=False)
class Face:
    """One synthetic face: its picture name, category, expression vector and identity."""

    name: str
    category: int
    sub_expression: int
    expression: np.ndarray
    identity: Identity

    @property
    def url(self) -> str:
        return f"images/{self.name}.png"


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


@dataclass
class RaterPool:
    ids: list[str]
    noise: np.ndarray
    lapse: np.ndarray


@dataclass
class SynthSummary:
    """What was written: triplets per split and type, pictures, rater agreement, the oracle ceiling."""

    triplets: dict[str, int]
    types: dict[str, dict[str, int]]
    pictures: int
    mean_agreement: float
    agreement_histogram: dict[str, int]
    oracle_accuracy: float
    oracle_accuracy_by_type: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready copy."""
        return asdict(self)


def write_synthetic_dataset(
    out: Path,
    triplets: int,
    seed: int = 0,
    image_size: int = 128,
    test_fraction: float = 0.2,
    quiet: bool = True,
) -> SynthSummary:
    """Write train.csv, test.csv, images/ and synth.json under `out`; return the summary."""
    validate_arguments(triplets, image_size, test_fraction)
    out = Path(out)
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


def validate_arguments(triplets: int, image_size: int, test_fraction: float) -> None:
    """Raise DataError with a one-line message for arguments that cannot make a dataset."""
    if not isinstance(triplets, (int, np.integer)) or triplets < 10:
        raise DataError(f"synthetic dataset needs a whole number of at least 10 triplets, got {triplets!r}")
    if not isinstance(image_size, (int, np.integer)) or image_size < 32:
        raise DataError(f"synthetic face size must be a whole number of at least 32 pixels, got {image_size!r}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise DataError(f"test fraction must lie strictly between 0 and 1, got {test_fraction}")


def split_counts(triplets: int, test_fraction: float) -> dict[str, int]:
    """Triplets per split: at least one in each."""
    test = min(max(1, round(triplets * test_fraction)), triplets - 1)
    return {"train": triplets - test, "test": test}


# --- sampling -----------------------------------------------------------------------------------


def sample_rater_pool(rng: np.random.Generator) -> RaterPool:
    """Thirty raters with distinct digit-string ids, each with a noise level and a lapse rate."""
    ids = [str(v) for v in rng.choice(900_000, RATER_POOL, replace=False) + 100_000]
    return RaterPool(ids, rng.uniform(*RATER_NOISE, RATER_POOL), rng.uniform(*RATER_LAPSE, RATER_POOL))


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


def sample_faces(rng: np.random.Generator, split: str, size: int) -> list[Face]:
    """A pool of faces balanced over the categories, in random order."""
    categories = rng.permutation(np.arange(size) % len(CATEGORIES))
    return [
        Face(f"{split}_{i:06d}", int(c), *sample_expression(rng, int(c)), sample_identity(rng))
        for i, c in enumerate(categories)
    ]


def sample_expression(rng: np.random.Generator, category: int) -> tuple[int, np.ndarray]:
    """One of the category's sub-expressions, at random, plus small noise: (its index, the vector)."""
    index = int(rng.integers(SUB_EXPRESSIONS.shape[1]))
    noise = rng.normal(0.0, WITHIN_SUB_EXPRESSION_NOISE, len(EXPRESSION_AXES))
    return index, np.clip(SUB_EXPRESSIONS[category, index] + noise, AXIS_LOW, AXIS_HIGH)


def pick(rng: np.random.Generator, options: tuple) -> tuple:
    return options[int(rng.integers(len(options)))]


def jitter(rng: np.random.Generator, colour: Colour, amount: float) -> Colour:
    return tuple(int(np.clip(v + rng.normal(0, amount), 0, 255)) for v in colour)


def sample_identity(rng: np.random.Generator) -> Identity:
    """Identity parameters, independent of the expression."""
    return Identity(
        skin=jitter(rng, pick(rng, SKIN_TONES), 8),
        hair=jitter(rng, pick(rng, HAIR_COLOURS), 10),
        eyes=jitter(rng, pick(rng, EYE_COLOURS), 10),
        background=tuple(int(v) for v in rng.integers(30, 230, 3)),
        hair_style=pick(rng, HAIR_STYLES),
        hairline=float(rng.uniform(45, 55)),
        head_width=float(rng.uniform(0.64, 0.8)),
        head_height=float(rng.uniform(0.8, 0.9)),
        shift=(float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.02, 0.03))),
        rotation=float(rng.uniform(-8, 8)),
        box_scale=float(rng.uniform(0.9, 1.1)),
        picture_scale=(float(rng.uniform(*PICTURE_SCALE)), float(rng.uniform(*PICTURE_SCALE))),
        offset=(float(rng.random()), float(rng.random())),
        gain=float(rng.uniform(0.75, 1.15)),
        light=(float(rng.uniform(-0.35, 0.35)), float(rng.uniform(-0.35, 0.35))),
        clutter=tuple(sample_clutter(rng) for _ in range(int(rng.integers(0, 5)))),
    )


def sample_clutter(rng: np.random.Generator) -> tuple[str, tuple[float, float, float, float], Colour]:
    """One background shape: kind, normalised bounds and colour."""
    x, y = rng.random(2)
    w, h = rng.uniform(0.05, 0.4, 2)
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    return pick(rng, ("rectangle", "ellipse")), (float(x), float(y), float(x + w), float(y + h)), colour


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


def odd_face(expressions: np.ndarray) -> np.ndarray:
    """The face (1..3) left out of the closest pair, for (..., 3, axes) expression vectors."""
    pairs = ((0, 1), (0, 2), (1, 2))  # leaving out faces 3, 2, 1
    distances = np.stack([np.linalg.norm(expressions[..., a, :] - expressions[..., b, :], axis=-1) for a, b in pairs], -1)
    return np.array([3, 2, 1])[distances.argmin(-1)]


def simulate_raters(rng: np.random.Generator, expressions: np.ndarray, raters: RaterPool) -> tuple[np.ndarray, np.ndarray]:
    """Six distinct raters per triplet judge noisy copies of the expressions; return (raters, labels)."""
    count = len(expressions)
    chosen = rng.permuted(np.tile(np.arange(RATER_POOL), (count, 1)), axis=1)[:, :RATERS_PER_TRIPLET]
    scale = mean_pair_distance(expressions)[:, None, None, None] * raters.noise[chosen][:, :, None, None]
    perceived = expressions[:, None] + rng.normal(size=(count, RATERS_PER_TRIPLET, *expressions.shape[1:])) * scale
    labels = odd_face(perceived)
    lapses = rng.random(chosen.shape) < raters.lapse[chosen]
    guesses = rng.integers(1, 4, chosen.shape)
    return chosen, np.where(lapses, guesses, labels)


def mean_pair_distance(expressions: np.ndarray) -> np.ndarray:
    """Mean Euclidean distance over the three pairs of each triplet."""
    pairs = ((0, 1), (0, 2), (1, 2))
    return np.mean([np.linalg.norm(expressions[:, a] - expressions[:, b], axis=-1) for a, b in pairs], axis=0)


def used_faces(split: SplitSample) -> list[Face]:
    """The faces that appear in at least one triplet, in pool order."""
    used = set(split.members.ravel().tolist())
    return [face for i, face in enumerate(split.faces) if i in used]


# --- records ------------------------------------------------------------------------------------


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


def picture_geometry(identity: Identity, image_size: int) -> tuple[int, int, int, int, int]:
    """(box side, picture width, picture height, box left, box top) in pixels."""
    side = max(8, round(image_size * identity.box_scale))
    width, height = (round(side * s) for s in identity.picture_scale)
    left = round(identity.offset[0] * (width - side))
    top = round(identity.offset[1] * (height - side))
    return side, width, height, left, top


def face_box(identity: Identity, image_size: int) -> FaceBox:
    """The face box normalised by the picture size."""
    side, width, height, left, top = picture_geometry(identity, image_size)
    return FaceBox(left / width, (left + side) / width, top / height, (top + side) / height)


def summarize(splits: list[SplitSample], records: dict[str, list[Triplet]], pictures: int) -> SynthSummary:
    """Counts, agreement and oracle accuracy over both splits."""
    everything = [t for rows in records.values() for t in rows]
    votes = [majority_label(t.annotations) for t in everything]
    true_odd = np.concatenate([split.true_odd for split in splits])
    correct = np.array([label == odd for (label, _), odd in zip(votes, true_odd)])
    kinds = np.array([t.type.value for t in everything])
    present = [k.value for k in TripletType if (kinds == k.value).any()]
    histogram = Counter(f"{agreement:.3f}" for _, agreement in votes)
    return SynthSummary(
        triplets={name: len(rows) for name, rows in records.items()},
        types={name: {k.value: sum(t.type is k for t in rows) for k in TripletType} for name, rows in records.items()},
        pictures=pictures,
        mean_agreement=round(float(np.mean([a for _, a in votes])), 4),
        agreement_histogram=dict(sorted(histogram.items())),
        oracle_accuracy=round(float(correct.mean()), 4),
        oracle_accuracy_by_type={kind: round(float(correct[kinds == kind].mean()), 4) for kind in present},
    )


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


def parameters(triplets: int, seed: int, image_size: int, test_fraction: float) -> dict:
    """The arguments and the generative model's constants, for synth.json."""
    return {
        "triplets": triplets,
        "seed": seed,
        "image_size": image_size,
        "test_fraction": test_fraction,
        "categories": list(CATEGORIES),
        "expression_axes": list(EXPRESSION_AXES),
        "generator_version": GENERATOR_VERSION,
        "sub_expressions": SUB_EXPRESSIONS.tolist(),
        "within_sub_expression_noise": WITHIN_SUB_EXPRESSION_NOISE,
        "pool_per_triplet": POOL_PER_TRIPLET,
        "rater_pool": RATER_POOL,
        "raters_per_triplet": RATERS_PER_TRIPLET,
        "rater_noise": list(RATER_NOISE),
        "rater_lapse": list(RATER_LAPSE),
        "picture_scale": list(PICTURE_SCALE),
    }


# --- drawing ------------------------------------------------------------------------------------


def write_pictures(out: Path, faces: list[Face], image_size: int, quiet: bool) -> None:
    """Draw every face into its picture and save it as PNG, atomically."""
    for face in tqdm(faces, desc="pictures", unit="picture", disable=quiet, leave=False):
        with atomic_path(out / face.url) as tmp:
            draw_picture(face, image_size).save(tmp, format="PNG")


def draw_picture(face: Face, image_size: int) -> Image.Image:
    """The whole picture: background, clutter, the face at its box, then the lighting."""
    identity = face.identity
    side, width, height, left, top = picture_geometry(identity, image_size)
    picture = Image.new("RGB", (width, height), identity.background)
    draw = ImageDraw.Draw(picture)
    for kind, (x0, y0, x1, y1), colour in identity.clutter:
        getattr(draw, kind)((x0 * width, y0 * height, x1 * width, y1 * height), fill=colour)
    tile = draw_face_tile(identity, face.expression, side * SUPERSAMPLE)
    clear = (*identity.background, 0)  # transparent, but edges blend towards the background colour
    tile = tile.rotate(identity.rotation, resample=Image.NEAREST, fillcolor=clear).reduce(SUPERSAMPLE)
    picture.paste(tile, (left, top), tile)
    return apply_lighting(picture, identity)


def apply_lighting(picture: Image.Image, identity: Identity) -> Image.Image:
    """Scale brightness by the gain and a linear gradient across the picture."""
    width, height = picture.size
    xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :]
    ys = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None]
    factor = identity.gain * (1.0 + identity.light[0] * xs + identity.light[1] * ys)
    pixels = np.asarray(picture, dtype=np.float32) * factor[:, :, None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def shade(colour: Colour, factor: float) -> Colour:
    return tuple(int(np.clip(v * factor, 0, 255)) for v in colour)


def mix(a: Colour, b: Colour, weight: float) -> Colour:
    """`a` moved towards `b` by `weight` (0..1)."""
    return tuple(int(round(x + (y - x) * weight)) for x, y in zip(a, b))


@dataclass(frozen=True)
class Layout:
    """Pixel geometry of one face tile: head centre, head radii and a unit length for features."""

    cx: float
    cy: float
    rx: float
    ry: float
    unit: float  # one unit = the tile side, times the head size relative to an average head

    def at(self, dx: float, dy: float) -> tuple[float, float]:
        """A point offset from the head centre by (dx, dy) feature units."""
        return self.cx + dx * self.unit * self.rx / self.ry, self.cy + dy * self.unit

    def head_box(self, grow: float = 0.0, bottom: float | None = None) -> tuple[float, float, float, float]:
        g = grow * self.unit
        low = self.cy + self.ry + g if bottom is None else bottom
        return (self.cx - self.rx - g, self.cy - self.ry - g, self.cx + self.rx + g, low)


def face_layout(identity: Identity, size: int) -> Layout:
    cx = size * (0.5 + identity.shift[0])
    cy = size * (0.53 + identity.shift[1])
    rx, ry = size * identity.head_width / 2, size * identity.head_height / 2
    return Layout(cx, cy, rx, ry, size * identity.head_height / 0.85)


def draw_face_tile(identity: Identity, expression: np.ndarray, size: int) -> Image.Image:
    """One face on a transparent square tile of `size` pixels."""
    tile = Image.new("RGBA", (size, size), (*identity.background, 0))
    draw = ImageDraw.Draw(tile)
    layout = face_layout(identity, size)
    curve, opening, raise_, tilt, eye_open, wrinkle = (float(v) for v in expression)
    draw_hair_back(draw, layout, identity)
    draw_head(draw, layout, identity)
    draw_hair_front(draw, layout, identity)
    draw_wrinkles(draw, layout, identity.skin, wrinkle)
    draw_eyes(draw, layout, identity, eye_open)
    draw_brows(draw, layout, mix(identity.hair, (20, 15, 12), 0.5), raise_, tilt)
    draw_nose(draw, layout, identity.skin)
    draw_mouth(draw, layout, identity.skin, curve, opening)
    return tile


def draw_hair_back(draw: ImageDraw.ImageDraw, layout: Layout, identity: Identity) -> None:
    """Hair behind the head: a cap for most styles, long sides, a bun or curls."""
    style, hair = identity.hair_style, identity.hair
    if style == "bald":
        return
    if style == "long":
        x0, y0, x1, _ = layout.head_box(0.05)
        draw.rounded_rectangle((x0, y0, x1, layout.cy + layout.ry * 0.9), radius=(x1 - x0) / 2, fill=hair)
    draw.ellipse(layout.head_box(0.035, bottom=layout.cy + layout.ry * 0.2), fill=hair)
    if style == "bun":
        x, y = layout.at(0.0, -0.5)
        r = 0.1 * layout.unit
        draw.ellipse((x - r, y - r, x + r, y + r), fill=hair)
    if style == "curly":
        for k in range(9):
            angle = math.radians(180 + 22.5 * k)
            x, y = layout.cx + layout.rx * 1.02 * math.cos(angle), layout.cy + layout.ry * 1.02 * math.sin(angle)
            r = 0.07 * layout.unit
            draw.ellipse((x - r, y - r, x + r, y + r), fill=hair)


def draw_head(draw: ImageDraw.ImageDraw, layout: Layout, identity: Identity) -> None:
    """Ears, then the head ellipse with a thin outline."""
    for side in (-1, 1):
        x, y = layout.cx + side * layout.rx, layout.at(0, -0.04)[1]
        rx, ry = 0.045 * layout.unit, 0.08 * layout.unit
        draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=shade(identity.skin, 0.93))
    outline = max(1, round(0.008 * layout.unit))
    draw.ellipse(layout.head_box(), fill=identity.skin, outline=shade(identity.skin, 0.7), width=outline)


def draw_hair_front(draw: ImageDraw.ImageDraw, layout: Layout, identity: Identity) -> None:
    """The hair over the top of the head, down to the hairline."""
    if identity.hair_style != "bald":
        draw.chord(layout.head_box(0.002), 270 - identity.hairline, 270 + identity.hairline, fill=identity.hair)


def draw_eyes(draw: ImageDraw.ImageDraw, layout: Layout, identity: Identity, opening: float) -> None:
    """Two almond eyes whose height follows the eye opening, with iris and pupil."""
    half_w = 0.075 * layout.unit
    half_h = (0.008 + 0.062 * opening) * layout.unit
    line = max(1, round(0.012 * layout.unit))
    for side in (-1, 1):
        x, y = layout.at(side * 0.165, -0.08)
        draw.ellipse((x - half_w, y - half_h, x + half_w, y + half_h), fill=(250, 250, 245), outline=(40, 30, 30), width=line)
        iris = min(0.034 * layout.unit, half_h)
        draw.ellipse((x - 0.034 * layout.unit, y - iris, x + 0.034 * layout.unit, y + iris), fill=identity.eyes)
        pupil = min(0.015 * layout.unit, half_h * 0.6)
        draw.ellipse((x - 0.015 * layout.unit, y - pupil, x + 0.015 * layout.unit, y + pupil), fill=(10, 10, 10))


def draw_brows(draw: ImageDraw.ImageDraw, layout: Layout, colour: Colour, raise_: float, tilt: float) -> None:
    """Thick brows: raised or lowered as a whole, tilted inner-down (anger) or inner-up (sadness, fear)."""
    width = max(2, round(0.04 * layout.unit))
    base = -0.185 - 0.065 * raise_
    for side in (-1, 1):
        outer = layout.at(side * 0.26, base - 0.025 * tilt)
        middle = layout.at(side * 0.17, base - 0.015 + 0.01 * tilt)
        inner = layout.at(side * 0.07, base + 0.05 * tilt)
        draw.line((outer, middle, inner), fill=colour, width=width, joint="curve")


def draw_nose(draw: ImageDraw.ImageDraw, layout: Layout, skin: Colour) -> None:
    """A simple nose: a bridge line and a base."""
    colour = shade(skin, 0.62)
    width = max(1, round(0.014 * layout.unit))
    draw.line((layout.at(0.01, -0.02), layout.at(0.035, 0.1), layout.at(-0.005, 0.115)), fill=colour, width=width, joint="curve")
    for side in (-1, 1):
        x, y = layout.at(side * 0.04, 0.11)
        r = 0.012 * layout.unit
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)


def draw_wrinkles(draw: ImageDraw.ImageDraw, layout: Layout, skin: Colour, amount: float) -> None:
    """Nose-bridge creases and nasolabial folds whose darkness and length grow with `amount`."""
    if amount < 0.05:
        return
    colour = mix(skin, shade(skin, 0.45), min(1.0, amount * 1.2))
    width = max(1, round(0.016 * layout.unit))
    for k in range(1 + int(amount * 2.99)):
        y = -0.05 + 0.035 * k
        draw.line((layout.at(-0.05, y), layout.at(0.0, y - 0.012), layout.at(0.05, y)), fill=colour, width=width, joint="curve")
    reach = 0.08 + 0.1 * amount
    for side in (-1, 1):
        draw.line((layout.at(side * 0.075, 0.085), layout.at(side * 0.135, 0.085 + reach)), fill=colour, width=width)


def draw_mouth(draw: ImageDraw.ImageDraw, layout: Layout, skin: Colour, curve: float, opening: float) -> None:
    """A mouth whose corners rise (smile) or fall (frown) with `curve` and whose lips part with `opening`."""
    lip = mix(skin, (150, 40, 50), 0.55)
    half = 0.16 + 0.04 * max(curve, 0.0) - 0.03 * opening
    ts = np.linspace(-1.0, 1.0, 13)
    upper = [layout.at(t * half, 0.235 - 0.1 * curve * (t * t - 0.4) - 0.025 * opening * (1 - t * t)) for t in ts]
    gap = 0.17 * opening
    if gap * layout.unit < 2.0:
        draw.line(upper, fill=lip, width=max(2, round(0.04 * layout.unit)), joint="curve")
        return
    lower = [(x, y + gap * layout.unit * (1 - t * t)) for (x, y), t in zip(upper, ts)]
    draw.polygon(upper + lower[::-1], fill=(70, 20, 25))
    teeth = [(x, y + min(0.03, gap * 0.35) * layout.unit * (1 - t * t)) for (x, y), t in zip(upper, ts)]
    draw.polygon(upper + teeth[::-1], fill=(245, 245, 235))
    width = max(2, round(0.028 * layout.unit))
    draw.line(upper, fill=lip, width=width, joint="curve")
    draw.line(lower, fill=lip, width=width, joint="curve")
