"""FECNet: a convolutional trunk, a small embedding head, and L2 normalisation."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class EmbeddingHead(nn.Module):
    """1x1 conv, BN, ReLU, global average pooling (any feature-map size), FC, BN, ReLU, dropout, FC, L2 norm.

    The BN after the first FC keeps its ReLU alive: without it, a large early step can zero every
    unit, every face then maps to the bias, and the triplet loss is stuck at 2 x margin.
    """

    def __init__(self, in_channels: int, embedding_dim: int = 16, width: int = 512, dropout: float = 0.2):
        super().__init__()
        self.reduce = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(width, width, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(width, embedding_dim),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(self.reduce(features)).flatten(1)
        return F.normalize(self.fc(pooled), dim=1)


class FECNet(nn.Module):
    """images (N, 3, H, W), normalised -> L2-normalised embeddings (N, embedding_dim)."""

    def __init__(self, trunk: nn.Module, head: nn.Module):
        super().__init__()
        self.trunk = trunk
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(images))

    @property
    def embedding_dim(self) -> int:
        return self.config["embedding_dim"]
