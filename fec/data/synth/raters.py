"""Simulated human raters: a pool of thirty, each with its own perception noise and lapse rate.

Their disagreement is what gives the synthetic labels the agreement spread of real FEC annotations;
the noise scales with each triplet's own spread (Weber's law), so fine judgements stay as reliable as
coarse ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fec.data.synth.expressions import mean_pair_distance, odd_face

RATER_POOL = 30
RATERS_PER_TRIPLET = 6
RATER_NOISE = (0.02, 0.1)  # per-axis perception noise, relative to the triplet's mean pair distance
RATER_LAPSE = (0.0, 0.08)  # chance that a rater answers at random


@dataclass
class RaterPool:
    """The raters' ids (as written to the CSVs), perception noise levels and lapse rates, by index."""

    ids: list[str]
    noise: np.ndarray
    lapse: np.ndarray


def sample_rater_pool(rng: np.random.Generator) -> RaterPool:
    """Thirty raters with distinct digit-string ids, each with a noise level and a lapse rate."""
    ids = [str(v) for v in rng.choice(900_000, RATER_POOL, replace=False) + 100_000]
    return RaterPool(ids, rng.uniform(*RATER_NOISE, RATER_POOL), rng.uniform(*RATER_LAPSE, RATER_POOL))


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
