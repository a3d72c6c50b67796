from __future__ import annotations

import pytest
import torch

from fec.errors import ModelError
from fec.models import create_model, get_spec, list_models

# Parameter counts measured on the registered builders (embedding_dim 16).
EXPECTED_PARAMETERS = {"compact_cnn": (420_000, 440_000), "mobilenet_v3_small": (1_000_000, 1_300_000),
                       "resnet18": (11_400_000, 11_800_000)}


def test_registry_lists_every_backbone_with_its_preprocessing():
    assert list_models() == ["compact_cnn", "inception_nn2", "inception_resnet_v1", "mobilenet_v3_small", "resnet18"]
    sizes = {name: get_spec(name).preprocessing.input_size for name in list_models()}
    assert sizes == {"compact_cnn": 64, "inception_nn2": 224, "inception_resnet_v1": 160, "mobilenet_v3_small": 112,
                     "resnet18": 224}


def test_unknown_model_names_what_exists():
    with pytest.raises(ModelError, match=r"unknown model 'resnet50'; available: compact_cnn, inception_nn2, .*resnet18"):
        create_model("resnet50")


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMETERS))
def test_single_path_backbones_embed_to_unit_vectors(name):
    model = create_model(name).eval()
    size = model.preprocessing.input_size
    low, high = EXPECTED_PARAMETERS[name]
    assert low <= sum(p.numel() for p in model.parameters()) <= high
    with torch.no_grad():
        embeddings = model(torch.randn(2, 3, size, size))
    assert embeddings.shape == (2, 16)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(2))


def test_input_size_override_is_recorded_and_pooling_adapts():
    model = create_model("resnet18", embedding_dim=8, input_size=96).eval()
    assert model.preprocessing.input_size == 96
    assert model.config == {"name": "resnet18", "embedding_dim": 8, "input_size": 96, "standardize_input": False}
    with torch.no_grad():
        assert model(torch.randn(1, 3, 96, 96)).shape == (1, 8)


def test_pretrained_trunk_weights_load_from_a_local_file(tmp_path):
    source = create_model("resnet18")
    weights = tmp_path / "trunk.pth"
    torch.save(source.trunk.state_dict(), weights)
    loaded = create_model("resnet18", pretrained=weights)
    torch.testing.assert_close(loaded.trunk[0].weight, source.trunk[0].weight)
    with pytest.raises(ModelError, match="no tensor matches the mobilenet_v3_small trunk"):
        create_model("mobilenet_v3_small", pretrained=weights)
    with pytest.raises(ModelError, match="pretrained weights file not found"):
        create_model("resnet18", pretrained=tmp_path / "absent.pth")
