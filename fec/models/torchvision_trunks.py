"""Backbones taken from torchvision: ResNet18 and MobileNetV3-small (the cheap CPU model).

Both take `head`: `global`, the paper's head (global average pooling, the default, so that every checkpoint
saved without the option rebuilds as it was trained), or `grid`, which keeps a 4 x 4 grid of the last feature
map (`fec.models.fecnet.GridEmbeddingHead`): where a feature is (mouth, brows, eyes) reaches the FC layer for
free, and MobileNetV3-small leaves the early plateau sooner with it (benchmarks/README.md).
"""

from __future__ import annotations

from torch import nn
from torchvision import models as tv

from fec.models.fecnet import FECNet, embedding_head
from fec.models.registry import register_model
from fec.preprocessing import Preprocessing


@register_model("resnet18", Preprocessing(224))
def resnet18(embedding_dim: int = 16, dropout: float = 0.2, head: str = "global") -> FECNet:
    """ResNet18 trunk (512 x 7 x 7 at 224 px) with the FECNet head; the original's best backbone."""
    backbone = tv.resnet18(weights=None)
    trunk = nn.Sequential(*list(backbone.children())[:-2])  # drop global pool and classifier
    return FECNet(trunk, embedding_head(head, 512, embedding_dim, width=512, dropout=dropout))


@register_model("mobilenet_v3_small", Preprocessing(112))
def mobilenet_v3_small(embedding_dim: int = 16, dropout: float = 0.2, head: str = "global") -> FECNet:
    """MobileNetV3-small trunk at 112 px with a narrow head: the cheap model for CPU deployment."""
    trunk = tv.mobilenet_v3_small(weights=None).features  # 576 channels
    # torchvision's BN momentum of 0.01 suits long ImageNet runs; after a few hundred steps the running
    # statistics are still mostly their initial values and eval-mode embeddings collapse.
    for module in trunk.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
    return FECNet(trunk, embedding_head(head, 576, embedding_dim, width=256, dropout=dropout))
