"""The FaceNet Inception backbones: shapes, unit-norm embeddings, adaptive pooling, sizes, gradients."""

from __future__ import annotations

import pytest
import torch

from fec.models import create_model, get_spec
from fec.models.inception import NN2_INCEPTION_TABLE, InceptionModule, InceptionNN2Trunk, _pooling

# name -> (declared input size, a smaller size the strides allow, trunk channels, trunk map side at declared size)
MODELS = {
    "inception_nn2": (224, 160, 1024, 7),
    "inception_resnet_v1": (160, 128, 1792, 3),
}


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {name: create_model(name) for name in MODELS}


def images(batch: int, size: int) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(size))


@pytest.mark.parametrize("name", MODELS)
def test_unit_norm_embeddings_at_declared_size(models, name):
    size = MODELS[name][0]
    assert get_spec(name).preprocessing.input_size == size
    model = models[name].eval()
    with torch.no_grad():
        embeddings = model(images(2, size))
    assert embeddings.shape == (2, 16)
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(2), atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_pooling_adapts_to_a_smaller_input(models, name):
    small = MODELS[name][1]
    model = models[name].eval()
    with torch.no_grad():
        embeddings = model(images(2, small))
    assert embeddings.shape == (2, 16)
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(2), atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_trunk_channels_and_map_size(models, name):
    size, _, channels, side = MODELS[name]
    trunk = models[name].eval().trunk
    assert trunk.out_channels == channels
    with torch.no_grad():
        features = trunk(images(1, size))
    assert features.shape == (1, channels, side, side)


def test_nn2_inception_block_widths_follow_the_facenet_table():
    trunk = InceptionNN2Trunk()
    widths = {name: trunk.get_submodule(f"inception_{name}").out_channels for name in NN2_INCEPTION_TABLE}
    assert widths == {"3a": 256, "3b": 320, "3c": 640, "4a": 640, "4b": 640, "4c": 640, "4d": 640, "4e": 1024}
    assert isinstance(trunk.inception_3c, InceptionModule) and len(trunk.inception_3c.branches) == 3  # no 1x1 branch


def test_unknown_pooling_is_rejected():
    with pytest.raises(ValueError, match="unknown pooling"):
        _pooling("l2", 1)


# Measured with this code: inception_nn2 6,680,688 parameters (trunk 4,153,568);
# inception_resnet_v1 22,152,720 parameters (trunk 20,963,328).
PARAMETER_RANGES = {
    "inception_nn2": ((6_600_000, 6_760_000), (4_100_000, 4_200_000)),
    "inception_resnet_v1": ((22_000_000, 22_300_000), (20_900_000, 21_050_000)),
}


@pytest.mark.parametrize("name", MODELS)
def test_parameter_counts(models, name):
    (low, high), (trunk_low, trunk_high) = PARAMETER_RANGES[name]
    model = models[name]
    assert low <= sum(p.numel() for p in model.parameters()) <= high
    assert trunk_low <= sum(p.numel() for p in model.trunk.parameters()) <= trunk_high


@pytest.mark.parametrize("name", MODELS)
def test_embedding_dim_option(name):
    model = create_model(name, embedding_dim=8).eval()
    with torch.no_grad():
        embeddings = model(images(1, MODELS[name][1]))
    assert embeddings.shape == (1, 8)
    assert model.embedding_dim == 8


@pytest.mark.parametrize("name", MODELS)
def test_train_step_gives_finite_gradients_everywhere(models, name):
    model = models[name].train()
    model.zero_grad(set_to_none=True)
    embeddings = model(images(2, MODELS[name][0]))
    target = torch.randn(embeddings.shape, generator=torch.Generator().manual_seed(1))
    (embeddings * target).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    non_finite = [n for n, p in model.named_parameters() if p.requires_grad and not torch.isfinite(p.grad).all()]
    assert not non_finite
    assert any(p.grad.abs().sum() > 0 for p in model.trunk.parameters())
    model.eval()
