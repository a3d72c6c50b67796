"""The embedding heads: unit-norm outputs at any feature-map size; the grid head keeps position."""

from __future__ import annotations

import pytest
import torch

from fec.models.fecnet import EmbeddingHead, GridEmbeddingHead


def one_hot_map(row: int, column: int, side: int = 4, channels: int = 8) -> torch.Tensor:
    """A feature map that is zero except for every channel at (row, column)."""
    features = torch.zeros(1, channels, side, side)
    features[0, :, row, column] = 1.0
    return features


@pytest.mark.parametrize("head_class", [EmbeddingHead, GridEmbeddingHead])
@pytest.mark.parametrize("side", [4, 6, 7])
def test_heads_give_unit_embeddings_for_any_map_size(head_class, side):
    torch.manual_seed(0)
    head = head_class(8, embedding_dim=16).eval()
    embeddings = head(torch.randn(3, 8, side, side))
    assert embeddings.shape == (3, 16)
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(3), atol=1e-6)


def test_grid_head_tells_where_a_feature_is_and_the_pooled_head_does_not():
    torch.manual_seed(0)
    grid, pooled = GridEmbeddingHead(8).eval(), EmbeddingHead(8).eval()
    top_left, bottom_right = one_hot_map(0, 0), one_hot_map(3, 3)
    with torch.no_grad():
        assert (grid(top_left) - grid(bottom_right)).norm() > 0.1
        assert (pooled(top_left) - pooled(bottom_right)).norm() < 1e-6


def test_grid_head_pools_larger_maps_to_its_grid():
    head = GridEmbeddingHead(8, grid=4, channels=32)
    assert head.fc[0].in_features == 32 * 4 * 4
    assert head.pool(torch.zeros(1, 32, 8, 8)).shape == (1, 32, 4, 4)


def test_pooled_head_keeps_its_checkpoint_keys():
    """Checkpoints of resnet18, mobilenet_v3_small and inception_resnet_v1 name these tensors."""
    keys = set(EmbeddingHead(8, width=16).state_dict())
    assert {"reduce.0.weight", "reduce.1.running_mean", "fc.0.weight", "fc.1.weight", "fc.4.weight", "fc.4.bias"} <= keys
