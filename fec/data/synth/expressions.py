"""The expression space every synthetic face is drawn from, and which of three faces is the odd one.

Faces, raters, the summary and the ground-truth table all read these constants, so they live at the
bottom of the package: seven categories, each holding three sub-expressions on six axes, and the
distance geometry that decides a triplet's noise-free answer.
"""

from __future__ import annotations

import numpy as np

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


def sample_expression(rng: np.random.Generator, category: int) -> tuple[int, np.ndarray]:
    """One of the category's sub-expressions, at random, plus small noise: (its index, the vector)."""
    index = int(rng.integers(SUB_EXPRESSIONS.shape[1]))
    noise = rng.normal(0.0, WITHIN_SUB_EXPRESSION_NOISE, len(EXPRESSION_AXES))
    return index, np.clip(SUB_EXPRESSIONS[category, index] + noise, AXIS_LOW, AXIS_HIGH)


def odd_face(expressions: np.ndarray) -> np.ndarray:
    """The face (1..3) left out of the closest pair, for (..., 3, axes) expression vectors."""
    pairs = ((0, 1), (0, 2), (1, 2))  # leaving out faces 3, 2, 1
    distances = np.stack([np.linalg.norm(expressions[..., a, :] - expressions[..., b, :], axis=-1) for a, b in pairs], -1)
    return np.array([3, 2, 1])[distances.argmin(-1)]


def mean_pair_distance(expressions: np.ndarray) -> np.ndarray:
    """Mean Euclidean distance over the three pairs of each triplet."""
    pairs = ((0, 1), (0, 2), (1, 2))
    return np.mean([np.linalg.norm(expressions[:, a] - expressions[:, b], axis=-1) for a, b in pairs], axis=0)
