"""FECNet: a convolutional trunk, a small embedding head, and L2 normalisation."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def embedding_mlp(in_features: int, width: int, embedding_dim: int, dropout: float) -> nn.Sequential:
    """FC, BN, ReLU, dropout, FC: pooled features -> the (not yet normalised) embedding.

    The BN after the first FC keeps its ReLU alive: without it, a large early step can zero every
    unit, every face then maps to the bias, and the triplet loss is stuck at 2 x margin.
    """
    return nn.Sequential(
        nn.Linear(in_features, width, bias=False),
        nn.BatchNorm1d(width),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(width, embedding_dim),
    )


def conv1x1_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class EmbeddingHead(nn.Module):
    """The paper's head: 1x1 conv, BN, ReLU, global average pooling (any feature-map size), MLP, L2 norm."""

    def __init__(self, in_channels: int, embedding_dim: int = 16, width: int = 512, dropout: float = 0.2):
        super().__init__()
        self.reduce = conv1x1_bn_relu(in_channels, width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = embedding_mlp(width, width, embedding_dim, dropout)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(self.reduce(features)).flatten(1)
        return F.normalize(self.fc(pooled), dim=1)


class GridEmbeddingHead(nn.Module):
    """A head that keeps where features are: 1x1 conv to a few channels, average pooling to a fixed
    `grid` x `grid` (any feature-map size), flatten, MLP, L2 norm.

    Global pooling throws away position, so a small trunk must spend capacity encoding *which* part
    of the face (mouth, brows, eyes) a feature came from. Keeping a coarse grid hands that to the FC
    layer for free: compact_cnn scores 80.3% instead of 75.7% with it after the same 1600 steps
    (benchmarks/README.md).
    """

    def __init__(self, in_channels: int, embedding_dim: int = 16, grid: int = 4, channels: int = 32,
                 width: int = 256, dropout: float = 0.2):
        super().__init__()
        self.reduce = conv1x1_bn_relu(in_channels, channels)
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.fc = embedding_mlp(channels * grid * grid, width, embedding_dim, dropout)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        cells = self.pool(self.reduce(features)).flatten(1)
        return F.normalize(self.fc(cells), dim=1)


HEADS = ("global", "grid")  # EmbeddingHead (the paper's, position pooled away) | GridEmbeddingHead (a 4 x 4 grid kept)


def embedding_head(kind: str, in_channels: int, embedding_dim: int, width: int, dropout: float) -> nn.Module:
    """The head a model option names: `global` (`width` wide) or `grid` (compact_cnn's, 256 wide); ValueError
    listing both for anything else."""
    if kind == "global":
        return EmbeddingHead(in_channels, embedding_dim, width=width, dropout=dropout)
    if kind == "grid":
        return GridEmbeddingHead(in_channels, embedding_dim, grid=4, channels=32, width=256, dropout=dropout)
    raise ValueError(f"head {kind!r} is not one of {', '.join(HEADS)}")


def per_image_standardization() -> nn.Module:
    """Each image's channels to zero mean and unit variance (FaceNet's prewhitening, per channel).

    It removes what a random network's embedding is mostly made of: the light, skin tone and
    background colour of a picture, none of which says anything about its expression. With them gone,
    training leaves the early plateau (where every face embeds alike) sooner and on every seed
    measured (benchmarks/README.md, "The early plateau"). No parameters: old checkpoints load as they
    are. It also makes the model indifferent to any per-channel affine input normalisation.
    """
    return nn.InstanceNorm2d(3, affine=False, track_running_stats=False)


class FECNet(nn.Module):
    """images (N, 3, H, W), normalised -> L2-normalised embeddings (N, embedding_dim).

    `standardize` (optional) runs first: see `per_image_standardization`.
    """

    def __init__(self, trunk: nn.Module, head: nn.Module, standardize: nn.Module | None = None):
        super().__init__()
        self.standardize = standardize
        self.trunk = trunk
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.standardize is not None:
            images = self.standardize(images)
        return self.head(self.trunk(images))

    @property
    def embedding_dim(self) -> int:
        return self.config["embedding_dim"]
