"""What `synth.json` records: counts, rater agreement, the oracle ceiling, and every generator setting.

The summary tells a reader how hard the dataset is (a perfect model reaches `oracle_accuracy`); the
parameters say how to make it again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from fec.data.synth.expressions import (
    CATEGORIES,
    EXPRESSION_AXES,
    GENERATOR_VERSION,
    SUB_EXPRESSIONS,
    WITHIN_SUB_EXPRESSION_NOISE,
)
from fec.data.synth.faces import PICTURE_SCALE
from fec.data.synth.raters import RATER_LAPSE, RATER_NOISE, RATER_POOL, RATERS_PER_TRIPLET
from fec.data.synth.splits import POOL_PER_TRIPLET, SplitSample
from fec.data.triplets import Triplet, TripletType, majority_label


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
