"""Triplet prediction accuracy, per triplet type, overall and on the high-agreement subset.

A triplet is predicted right when the annotated similar pair (the two faces that are not odd) is
strictly the closest of its three pairs. Distances are squared L2 between embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fec.data.triplets import TRIPLET_TYPES, agrees

OVERALL = "overall"
HIGH_AGREEMENT_KEY = "high_agreement"


def pair_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """(N, 3, D) embeddings -> (N, 3) squared distances; column k is the pair that excludes face k."""
    first, second, third = embeddings.unbind(dim=1)
    d23 = (second - third).pow(2).sum(dim=1)
    d13 = (first - third).pow(2).sum(dim=1)
    d12 = (first - second).pow(2).sum(dim=1)
    return torch.stack([d23, d13, d12], dim=1)


# Mean squared pair distance below which unit embeddings have (nearly) collapsed to one point: the
# triplet loss then sits at its margins with almost no gradient. Runs stuck at chance accuracy sat at
# 0.02-0.08; early in a run this is common and usually passes (the demo run: 0.065 at step 400, 0.21 at
# 800, then 85.5% held-out), so crossing it is a warning, not an error.
COLLAPSED_SPREAD = 0.1


def embedding_spread(embeddings: np.ndarray) -> float:
    """Mean squared distance over the three pairs of (N, 3, D) triplet embeddings: 0 when collapsed."""
    return float(pair_distances(torch.as_tensor(embeddings, dtype=torch.float32)).mean()) if len(embeddings) else 0.0


def correct_predictions(distances: torch.Tensor, odd_index: torch.Tensor) -> torch.Tensor:
    """Boolean (N,): the similar pair (excluding the 0-based `odd_index`) is strictly the closest."""
    similar = distances.gather(1, odd_index.view(-1, 1))
    others = distances.masked_fill(torch.nn.functional.one_hot(odd_index, 3).bool(), float("inf"))
    return (similar < others).all(dim=1)


@dataclass(frozen=True)
class Accuracy:
    accuracy: float
    count: int

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "count": self.count}


def accuracy_report(correct: np.ndarray, types: np.ndarray, agreement: np.ndarray) -> dict[str, Accuracy]:
    """Accuracy per triplet type (keyed by the official type names), overall and high-agreement."""
    correct = np.asarray(correct, dtype=bool)
    types = np.asarray(types)
    groups = {kind.value: types == kind.value for kind in TRIPLET_TYPES}
    groups[OVERALL] = np.ones_like(correct)
    groups[HIGH_AGREEMENT_KEY] = agrees(np.asarray(agreement))
    return {name: _accuracy(correct[mask]) for name, mask in groups.items()}


def _accuracy(correct: np.ndarray) -> Accuracy:
    count = int(correct.size)
    return Accuracy(float(correct.mean()) if count else float("nan"), count)


def format_report(report: dict[str, dict]) -> str:
    """The accuracy table printed by fec-eval and fec-train, from {name: {"accuracy", "count"}}."""
    lines = [f"{'triplets':<22} {'accuracy':>9} {'count':>8}"]
    for name, result in report.items():
        lines.append(f"{name:<22} {100 * result['accuracy']:>8.2f}% {result['count']:>8}")
    return "\n".join(lines)
