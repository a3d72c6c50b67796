"""FECNet models behind one registry: `create_model(name)`, `list_models()`, `get_spec(name)`."""

from fec.models import (
    compact_cnn,  # noqa: F401  (registers compact_cnn)
    inception,  # noqa: F401  (registers inception_nn2, inception_resnet_v1)
    torchvision_trunks,  # noqa: F401  (registers resnet18, mobilenet_v3_small)
)
from fec.models.registry import ModelSpec, create_model, get_spec, list_models, register_model

__all__ = ["ModelSpec", "create_model", "get_spec", "list_models", "register_model"]
