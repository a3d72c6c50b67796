"""The FECNet triplet loss (Vemulapalli & Agarwala 2019), computed per triplet.

For a triplet whose similar pair is (a, b) and odd face o, with squared L2 distances d:
    loss = max(0, d(a,b) - d(a,o) + m) + max(0, d(a,b) - d(b,o) + m)
with the margin m chosen by the triplet's type. Each row carries its own label, type and margin, so
batches that mix labels and types cannot misalign them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fec.data.triplets import TRIPLET_TYPES, TripletType
from fec.metrics import pair_distances

DEFAULT_MARGINS = {TripletType.ONE_CLASS: 0.1, TripletType.TWO_CLASS: 0.2, TripletType.THREE_CLASS: 0.2}


MAX_MARGIN = 4.0  # squared distances between unit vectors lie in [0, 4]: a larger margin can never be met


def margin_vector(margins: dict) -> torch.Tensor:
    """Margins indexed by triplet-type index (the order of TRIPLET_TYPES); ValueError names what is wrong."""
    by_type = {}
    for key, value in margins.items():
        kind = TripletType.parse(str(getattr(key, "value", key)))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= MAX_MARGIN:
            raise ValueError(f"{kind.name} is {str(value)[:40]!r}, not a number in [0, {MAX_MARGIN:g}]")
        by_type[kind] = float(value)
    missing = [kind.name for kind in TRIPLET_TYPES if kind not in by_type]
    if missing:
        raise ValueError(f"no margin for {', '.join(missing)}")
    return torch.tensor([by_type[kind] for kind in TRIPLET_TYPES])


def triplet_loss(embeddings: torch.Tensor, odd_index: torch.Tensor, margins: torch.Tensor) -> torch.Tensor:
    """Per-triplet loss (N,) from (N, 3, D) embeddings, 0-based odd indices and per-row margins (N,)."""
    distances = pair_distances(embeddings.float())
    similar = distances.gather(1, odd_index.view(-1, 1))
    others = _other_pairs(distances, odd_index)
    return torch.relu(similar - others + margins.view(-1, 1)).sum(dim=1)


def softmax_triplet_loss(embeddings: torch.Tensor, odd_index: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-triplet cross-entropy (N,) of naming the similar pair closest, logits -distance / temperature.

    Not the paper's loss: an option that keeps a gradient on every triplet, right or wrong, where the
    margin loss stops at the margin.
    """
    distances = pair_distances(embeddings.float())
    return F.cross_entropy(-distances / temperature, odd_index, reduction="none")


LOSSES = ("triplet", "softmax")


# Columns of the two pairs that contain the odd face, for odd index 0, 1, 2.
_OTHER_COLUMNS = torch.tensor([[1, 2], [0, 2], [0, 1]])


def _other_pairs(distances: torch.Tensor, odd_index: torch.Tensor) -> torch.Tensor:
    return distances.gather(1, _OTHER_COLUMNS.to(distances.device)[odd_index])
