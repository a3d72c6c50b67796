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


def test_standardized_model_ignores_each_pictures_light_and_colour_cast():
    """Per-image standardisation: a per-image, per-channel gain and offset leaves the embedding unchanged."""
    from fec.models import create_model

    torch.manual_seed(0)
    images = torch.randn(4, 3, 64, 64)
    gain, offset = torch.rand(4, 3, 1, 1) * 2 + 0.5, torch.randn(4, 3, 1, 1)
    standardized = create_model("compact_cnn", standardize_input=True).eval()
    plain = create_model("compact_cnn").eval()
    plain.load_state_dict(standardized.state_dict())
    with torch.no_grad():
        change = (standardized(images * gain + offset) - standardized(images)).abs().max()
        plain_change = (plain(images * gain + offset) - plain(images)).abs().max()
    assert change < 1e-5
    assert plain_change > 100 * change  # a random network's embeddings vary little with anything (0.003 here)


def test_standardization_adds_no_weights_and_is_recorded_in_the_config():
    from fec.models import create_model

    standardized, plain = create_model("compact_cnn", standardize_input=True), create_model("compact_cnn")
    assert standardized.state_dict().keys() == plain.state_dict().keys()
    assert standardized.config["standardize_input"] is True
    assert plain.config["standardize_input"] is False and plain.standardize is None


@pytest.mark.parametrize(("name", "side"), [("mobilenet_v3_small", 112), ("resnet18", 128)])
def test_the_head_option_picks_the_grid_head_and_is_recorded(name, side):
    from fec.models import create_model

    default = create_model(name, input_size=side)
    grid = create_model(name, input_size=side, head="grid")
    assert isinstance(default.head, EmbeddingHead) and "head" not in default.config  # old checkpoints rebuild as trained
    assert isinstance(grid.head, GridEmbeddingHead) and grid.config["head"] == "grid"
    embeddings = grid.eval()(torch.rand(2, 3, side, side))
    assert embeddings.shape == (2, 16) and torch.allclose(embeddings.norm(dim=1), torch.ones(2), atol=1e-5)


def test_an_unknown_head_is_a_model_error_listing_the_heads():
    from fec.errors import ModelError
    from fec.models import create_model

    message = r"^model 'mobilenet_v3_small': bad option \(head 'pooled' is not one of global, grid\)$"
    with pytest.raises(ModelError, match=message):
        create_model("mobilenet_v3_small", head="pooled")


def test_a_grid_head_checkpoint_rebuilds_with_its_head(tmp_path):
    from fec.models import create_model
    from fec.models.checkpoint import model_from_checkpoint, save_checkpoint

    model = create_model("mobilenet_v3_small", input_size=112, head="grid").eval()
    save_checkpoint(tmp_path / "grid.pt", {"model": dict(model.config), "preprocessing": model.preprocessing.to_dict(),
                                           "state_dict": model.state_dict(), "step": 0})
    rebuilt, _, _ = model_from_checkpoint(tmp_path / "grid.pt")
    images = torch.rand(2, 3, 112, 112)
    assert isinstance(rebuilt.head, GridEmbeddingHead)
    assert torch.allclose(rebuilt.eval()(images), model(images), atol=1e-6)
