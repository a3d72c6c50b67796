from __future__ import annotations

import math

import pytest
import torch

from fec.losses import DEFAULT_MARGINS, margin_vector, softmax_triplet_loss, triplet_loss


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
    margins = margin_vector({"ONE_CLASS": 0.3, "TWO_CLASS": 0.4, "THREE_CLASS_TRIPLET": 0.5})
    assert margins.tolist() == pytest.approx([0.3, 0.4, 0.5])


def test_gradient_pulls_the_similar_pair_together():
    points = embeddings_from_points([[0.0], [2.0], [1.0]]).requires_grad_()
    triplet_loss(points, torch.tensor([2]), torch.tensor([0.2])).sum().backward()
    # similar pair (1, 2) at 0 and 2: face 1 is pushed up, face 2 down.
    assert points.grad[0, 0, 0] < 0 < points.grad[0, 1, 0]


def test_softmax_loss_by_hand():
    # faces at (0,0), (1,0), (0,1): squared distances 2 (pair 2-3), 1 (pair 1-3), 1 (pair 1-2)
    embeddings = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]]).repeat(3, 1, 1)
    odd = torch.tensor([0, 1, 2])
    losses = softmax_triplet_loss(embeddings, odd, temperature=0.5)
    normaliser = math.log(math.exp(-4.0) + 2 * math.exp(-2.0))  # logits -2/0.5, -1/0.5, -1/0.5
    assert losses.tolist() == pytest.approx([4.0 + normaliser, 2.0 + normaliser, 2.0 + normaliser])


def test_softmax_loss_keeps_a_gradient_where_the_margin_loss_has_none():
    # a right answer beyond every margin: the similar pair (faces 1, 2) is 3.9 closer than the others
    embeddings = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [-0.9, 0.0]]], requires_grad=True)
    odd = torch.tensor([2])
    triplet_loss(embeddings, odd, torch.tensor([0.2])).sum().backward()
    assert embeddings.grad.abs().sum() == 0
    embeddings.grad = None
    softmax_triplet_loss(embeddings, odd, temperature=1.0).sum().backward()
    assert embeddings.grad.abs().sum() > 0
