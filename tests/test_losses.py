from __future__ import annotations

import pytest
import torch

from fec.losses import DEFAULT_MARGINS, margin_vector, triplet_loss


def embeddings_from_points(*triplets):
    return torch.tensor(triplets, dtype=torch.float32)


def test_loss_by_hand_for_each_odd_position():
    # Faces on a line at 0, 1, 3: d12 = 1, d13 = 9, d23 = 4 (squared distances).
    points = embeddings_from_points([[0.0], [1.0], [3.0]])
    margin = torch.tensor([0.5])
    # odd = face 3: similar (1,2) d=1; others d13=9, d23=4 -> relu(1-9+.5) + relu(1-4+.5) = 0
    assert triplet_loss(points, torch.tensor([2]), margin).item() == pytest.approx(0.0)
    # odd = face 1: similar (2,3) d=4; others d12=1, d13=9 -> relu(4-1+.5) + relu(4-9+.5) = 3.5
    assert triplet_loss(points, torch.tensor([0]), margin).item() == pytest.approx(3.5)
    # odd = face 2: similar (1,3) d=9; others d12=1, d23=4 -> (9-1+.5) + (9-4+.5) = 14
    assert triplet_loss(points, torch.tensor([1]), margin).item() == pytest.approx(14.0)


def test_mixed_batch_keeps_each_row_with_its_own_label_and_margin():
    points = embeddings_from_points([[0.0], [1.0], [3.0]], [[0.0], [1.0], [3.0]], [[0.0], [1.0], [3.0]])
    odd = torch.tensor([1, 2, 0])
    margins = torch.tensor([0.1, 0.2, 0.3])
    losses = triplet_loss(points, odd, margins)
    expected = [(9 - 1 + 0.1) + (9 - 4 + 0.1), 0.0, (4 - 1 + 0.3) + 0.0]
    assert losses.tolist() == pytest.approx(expected)
    # Shuffling the batch shuffles the losses the same way: no order-dependent masking.
    order = torch.tensor([2, 0, 1])
    assert triplet_loss(points[order], odd[order], margins[order]).tolist() == pytest.approx([expected[i] for i in order])


def test_default_margins_by_type():
    assert margin_vector({k.value: v for k, v in DEFAULT_MARGINS.items()}).tolist() == pytest.approx([0.1, 0.2, 0.2])
    assert margin_vector({"ONE_CLASS": 0.3, "TWO_CLASS": 0.4, "THREE_CLASS_TRIPLET": 0.5}).tolist() == pytest.approx([0.3, 0.4, 0.5])


def test_gradient_pulls_the_similar_pair_together():
    points = embeddings_from_points([[0.0], [2.0], [1.0]]).requires_grad_()
    triplet_loss(points, torch.tensor([2]), torch.tensor([0.2])).sum().backward()
    # similar pair (1, 2) at 0 and 2: face 1 is pushed up, face 2 down.
    assert points.grad[0, 0, 0] < 0 < points.grad[0, 1, 0]
