"""Inception backbones from FaceNet: NN2 with FECNet's DenseNet head, and Inception-ResNet-v1.

Written from the papers' architecture descriptions:
- NN2: Schroff, Kalenichenko & Philbin, "FaceNet", CVPR 2015, the NN2 table, cut after inception
  (4e) and followed by the DenseNet embedding head of Vemulapalli & Agarwala, CVPR 2019 (FECNet).
- Inception-ResNet-v1: Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual
  Connections on Learning", 2016/2017: the stem, Inception-ResNet-A/B/C and Reduction-A/B figures
  for Inception-ResNet-v1 (Reduction-A with k=192, l=192, m=256, n=384).
Batch normalisation follows every convolution (replacing NN2's local response normalisation),
except the linear 1x1 projections of the residual blocks.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from fec.models.fecnet import EmbeddingHead, FECNet
from fec.models.registry import register_model
from fec.preprocessing import Preprocessing

KernelSize = int | tuple[int, int]


class ConvBNReLU(nn.Sequential):
    """Convolution without bias, batch normalisation, ReLU; `padding=None` keeps the size ("same")."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: KernelSize, stride: int = 1,
                 padding: KernelSize | None = None):
        if padding is None:
            padding = kernel_size // 2 if isinstance(kernel_size, int) else tuple(k // 2 for k in kernel_size)
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ConcatBranches(nn.Module):
    """Runs parallel branches on one input and concatenates their outputs along the channels."""

    def __init__(self, branches: list[nn.Module], out_channels: int):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.out_channels = out_channels

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(features) for branch in self.branches], dim=1)


# --------------------------------------------------------------------------- FaceNet NN2


class InceptionWidths(NamedTuple):
    """One row of the NN2 table; 0 for `conv1x1` or `pool_proj` means that branch/projection is absent."""

    conv1x1: int
    reduce3x3: int
    conv3x3: int
    reduce5x5: int
    conv5x5: int
    pool: str  # "max", or "avg" standing in for the paper's L2 pooling
    pool_proj: int
    stride: int = 1


NN2_INCEPTION_TABLE: dict[str, InceptionWidths] = {
    "3a": InceptionWidths(64, 96, 128, 16, 32, "max", 32),
    "3b": InceptionWidths(64, 96, 128, 32, 64, "avg", 64),
    "3c": InceptionWidths(0, 128, 256, 32, 64, "max", 0, stride=2),
    "4a": InceptionWidths(256, 96, 192, 32, 64, "avg", 128),
    "4b": InceptionWidths(224, 112, 224, 32, 64, "avg", 128),
    "4c": InceptionWidths(192, 128, 256, 32, 64, "avg", 128),
    "4d": InceptionWidths(160, 144, 288, 32, 64, "avg", 128),
    "4e": InceptionWidths(0, 160, 256, 64, 128, "max", 0, stride=2),
}


class InceptionModule(ConcatBranches):
    """An NN2 inception block: [1x1], 1x1->3x3, 1x1->5x5 and pooling [->1x1 projection] branches."""

    def __init__(self, in_channels: int, widths: InceptionWidths):
        w = widths
        branches: list[nn.Module] = []
        if w.conv1x1:
            branches.append(ConvBNReLU(in_channels, w.conv1x1, 1))
        branches.append(nn.Sequential(ConvBNReLU(in_channels, w.reduce3x3, 1),
                                      ConvBNReLU(w.reduce3x3, w.conv3x3, 3, stride=w.stride)))
        branches.append(nn.Sequential(ConvBNReLU(in_channels, w.reduce5x5, 1),
                                      ConvBNReLU(w.reduce5x5, w.conv5x5, 5, stride=w.stride)))
        pooling = _pooling(w.pool, w.stride)
        branches.append(nn.Sequential(pooling, ConvBNReLU(in_channels, w.pool_proj, 1)) if w.pool_proj else pooling)
        out_channels = w.conv1x1 + w.conv3x3 + w.conv5x5 + (w.pool_proj or in_channels)
        super().__init__(branches, out_channels)


def _pooling(kind: str, stride: int) -> nn.Module:
    if kind == "max":
        return nn.MaxPool2d(3, stride, padding=1)
    if kind == "avg":  # average pooling replaces FaceNet's L2 pooling (same window, no parameters)
        return nn.AvgPool2d(3, stride, padding=1, count_include_pad=False)
    raise ValueError(f"unknown pooling {kind!r}; expected 'max' or 'avg'")


class InceptionNN2Trunk(nn.Sequential):
    """FaceNet NN2 up to and including inception (4e): 1024 channels at 1/32 of the input size."""

    def __init__(self):
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv1=ConvBNReLU(3, 64, 7, stride=2),
            pool1=nn.MaxPool2d(3, 2, padding=1),
            conv2_reduce=ConvBNReLU(64, 64, 1),
            conv2=ConvBNReLU(64, 192, 3),
            pool2=nn.MaxPool2d(3, 2, padding=1),
        )
        channels = 192
        for name, widths in NN2_INCEPTION_TABLE.items():
            layers[f"inception_{name}"] = module = InceptionModule(channels, widths)
            channels = module.out_channels
        super().__init__(layers)
        self.out_channels = channels


class DenseLayer(nn.Module):
    """DenseNet-BC layer: BN-ReLU-1x1 conv (4 x growth)-BN-ReLU-3x3 conv (growth), appended to its input."""

    def __init__(self, in_channels: int, growth_rate: int):
        super().__init__()
        bottleneck = 4 * growth_rate
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, bottleneck, 1, bias=False),
            nn.BatchNorm2d(bottleneck),
            nn.ReLU(inplace=True),
            nn.Conv2d(bottleneck, growth_rate, 3, padding=1, bias=False),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([features, self.body(features)], dim=1)


class DenseEmbeddingHead(nn.Module):
    """FECNet's head: 1x1 conv, DenseNet block, BN-ReLU, global average pool, FC, dropout, FC, L2 norm."""

    def __init__(self, in_channels: int, embedding_dim: int = 16, width: int = 512, dense_layers: int = 5,
                 growth_rate: int = 64, dropout: float = 0.2):
        super().__init__()
        dense_channels = width + dense_layers * growth_rate
        self.reduce = ConvBNReLU(in_channels, width, 1)
        self.dense = nn.Sequential(*(DenseLayer(width + i * growth_rate, growth_rate) for i in range(dense_layers)))
        self.finish = nn.Sequential(nn.BatchNorm2d(dense_channels), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(dense_channels, width),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(width, embedding_dim),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        dense = self.finish(self.dense(self.reduce(features)))
        return F.normalize(self.fc(self.pool(dense).flatten(1)), dim=1)


# --------------------------------------------------------------------------- Inception-ResNet-v1


class ResidualInception(nn.Module):
    """Inception-ResNet block: branches, concatenated, linear 1x1 projection, scaled residual sum, [ReLU]."""

    def __init__(self, channels: int, mixed: ConcatBranches, scale: float, activate: bool = True):
        super().__init__()
        self.mixed = mixed
        self.project = nn.Conv2d(mixed.out_channels, channels, 1)  # linear: bias, no BN, no ReLU
        self.scale = scale
        self.activation = nn.ReLU(inplace=True) if activate else nn.Identity()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.activation(features + self.scale * self.project(self.mixed(features)))


def inception_resnet_a(channels: int = 256, scale: float = 0.17) -> ResidualInception:
    """35x35 block (17x17 at 160 px): 1x1 32 | 1x1 32 -> 3x3 32 | 1x1 32 -> 3x3 32 -> 3x3 32."""
    mixed = ConcatBranches([
        ConvBNReLU(channels, 32, 1),
        nn.Sequential(ConvBNReLU(channels, 32, 1), ConvBNReLU(32, 32, 3)),
        nn.Sequential(ConvBNReLU(channels, 32, 1), ConvBNReLU(32, 32, 3), ConvBNReLU(32, 32, 3)),
    ], out_channels=96)
    return ResidualInception(channels, mixed, scale)


def inception_resnet_b(channels: int = 896, scale: float = 0.10) -> ResidualInception:
    """17x17 block: 1x1 128 | 1x1 128 -> 1x7 128 -> 7x1 128."""
    mixed = ConcatBranches([
        ConvBNReLU(channels, 128, 1),
        nn.Sequential(ConvBNReLU(channels, 128, 1), ConvBNReLU(128, 128, (1, 7)), ConvBNReLU(128, 128, (7, 1))),
    ], out_channels=256)
    return ResidualInception(channels, mixed, scale)


def inception_resnet_c(channels: int = 1792, scale: float = 0.20, activate: bool = True) -> ResidualInception:
    """8x8 block: 1x1 192 | 1x1 192 -> 1x3 192 -> 3x1 192."""
    mixed = ConcatBranches([
        ConvBNReLU(channels, 192, 1),
        nn.Sequential(ConvBNReLU(channels, 192, 1), ConvBNReLU(192, 192, (1, 3)), ConvBNReLU(192, 192, (3, 1))),
    ], out_channels=384)
    return ResidualInception(channels, mixed, scale, activate)


def reduction_a(in_channels: int = 256, k: int = 192, l: int = 192, m: int = 256, n: int = 384) -> ConcatBranches:  # noqa: E741  (the paper's k, l, m, n)
    """35 -> 17 reduction: max pool | 3x3/2 n | 1x1 k -> 3x3 l -> 3x3/2 m (all stride-2 ops unpadded)."""
    return ConcatBranches([
        nn.MaxPool2d(3, 2),
        ConvBNReLU(in_channels, n, 3, stride=2, padding=0),
        nn.Sequential(ConvBNReLU(in_channels, k, 1), ConvBNReLU(k, l, 3), ConvBNReLU(l, m, 3, stride=2, padding=0)),
    ], out_channels=in_channels + n + m)


def reduction_b(in_channels: int = 896) -> ConcatBranches:
    """17 -> 8 reduction: max pool | 1x1 256 -> 3x3/2 384 | 1x1 256 -> 3x3/2 256 | 1x1 256 -> 3x3 256 -> 3x3/2 256."""
    return ConcatBranches([
        nn.MaxPool2d(3, 2),
        nn.Sequential(ConvBNReLU(in_channels, 256, 1), ConvBNReLU(256, 384, 3, stride=2, padding=0)),
        nn.Sequential(ConvBNReLU(in_channels, 256, 1), ConvBNReLU(256, 256, 3, stride=2, padding=0)),
        nn.Sequential(ConvBNReLU(in_channels, 256, 1), ConvBNReLU(256, 256, 3),
                      ConvBNReLU(256, 256, 3, stride=2, padding=0)),
    ], out_channels=in_channels + 384 + 256 + 256)


class InceptionResNetV1Trunk(nn.Sequential):
    """Inception-ResNet-v1 without its pooling and classifier: 1792 channels (3x3 at 160 px)."""

    def __init__(self):
        stem = OrderedDict(
            conv1=ConvBNReLU(3, 32, 3, stride=2, padding=0),
            conv2=ConvBNReLU(32, 32, 3, padding=0),
            conv3=ConvBNReLU(32, 64, 3),
            pool=nn.MaxPool2d(3, 2),
            conv4=ConvBNReLU(64, 80, 1),
            conv5=ConvBNReLU(80, 192, 3, padding=0),
            conv6=ConvBNReLU(192, 256, 3, stride=2, padding=0),
        )
        blocks_c = [inception_resnet_c() for _ in range(4)] + [inception_resnet_c(activate=False)]
        super().__init__(OrderedDict(
            **stem,
            repeat_a=nn.Sequential(*(inception_resnet_a() for _ in range(5))),
            reduction_a=reduction_a(),
            repeat_b=nn.Sequential(*(inception_resnet_b() for _ in range(10))),
            reduction_b=reduction_b(),
            repeat_c=nn.Sequential(*blocks_c),
        ))
        self.out_channels = 1792


# --------------------------------------------------------------------------- registered models


@register_model("inception_nn2", Preprocessing(224))
def inception_nn2(embedding_dim: int = 16, dropout: float = 0.2) -> FECNet:
    """FaceNet NN2 Inception trunk to (4e) (1024 x 7 x 7 at 224 px) with FECNet's DenseNet head: the paper's model."""
    trunk = InceptionNN2Trunk()
    return FECNet(trunk, DenseEmbeddingHead(trunk.out_channels, embedding_dim, dropout=dropout))


@register_model("inception_resnet_v1", Preprocessing(160, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)))
def inception_resnet_v1(embedding_dim: int = 16, dropout: float = 0.2) -> FECNet:
    """Inception-ResNet-v1 trunk as in FaceNet (1792 x 3 x 3 at 160 px) with the FECNet head."""
    trunk = InceptionResNetV1Trunk()
    return FECNet(trunk, EmbeddingHead(trunk.out_channels, embedding_dim, dropout=dropout))
