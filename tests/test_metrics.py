from __future__ import annotations

import numpy as np
import pytest
import torch

from fec.metrics import accuracy_report, correct_predictions, format_report, pair_distances


def test_pair_distances_column_k_excludes_face_k():
    points = torch.tensor([[[0.0], [1.0], [3.0]]])
    assert pair_distances(points).tolist() == [[4.0, 9.0, 1.0]]


def test_correct_when_similar_pair_is_strictly_closest():
    distances = torch.tensor([[4.0, 9.0, 1.0]] * 3 + [[1.0, 1.0, 5.0]])
    odd = torch.tensor([2, 0, 1, 0])
    # last row ties the similar pair with another: counted wrong
    assert correct_predictions(distances, odd).tolist() == [True, False, False, False]


def test_report_per_type_overall_and_high_agreement():
    correct = np.array([True, False, True, True, False])
    types = np.array(["ONE_CLASS_TRIPLET", "ONE_CLASS_TRIPLET", "TWO_CLASS_TRIPLET", "THREE_CLASS_TRIPLET",
                      "THREE_CLASS_TRIPLET"])
    agreement = np.array([1.0, 0.5, 4 / 6, 1.0, 0.5])
    report = {k: v.to_dict() for k, v in accuracy_report(correct, types, agreement).items()}
    assert report["ONE_CLASS_TRIPLET"] == {"accuracy": 0.5, "count": 2}
    assert report["TWO_CLASS_TRIPLET"] == {"accuracy": 1.0, "count": 1}
    assert report["THREE_CLASS_TRIPLET"] == {"accuracy": 0.5, "count": 2}
    assert report["overall"] == {"accuracy": pytest.approx(0.6), "count": 5}
    assert report["high_agreement"] == {"accuracy": 1.0, "count": 3}
    table = format_report(report)
    assert "overall" in table and " 60.00%" in table


def test_embedding_spread_is_the_mean_squared_pair_distance():
    from fec.metrics import embedding_spread

    triplets = np.array([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]],  # squared distances 2, 1, 1
                         [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]])  # one point: 0, 0, 0
    assert embedding_spread(triplets) == pytest.approx(4 / 6)
    assert embedding_spread(triplets[1:]) == 0.0
    assert embedding_spread(np.zeros((0, 3, 16))) == 0.0
