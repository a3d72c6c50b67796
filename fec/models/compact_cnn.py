"""compact_cnn: a plain 3x3-convolution trunk at 96 px, the model that trains fastest on a CPU.

MobileNetV3-small has fewer multiply-adds, but its depthwise convolutions, squeeze-excitation and
hard-swish run far from a CPU's peak, above all in the backward pass; dense 3x3 convolutions with
batch norm and ReLU run near it. On the project's 2-core machine a training step of 32 triplets
(96 faces) costs about a third of MobileNetV3-small's at 112 px, and the network starts learning
from the first hundred steps (see benchmarks/README.md).
"""

from __future__ import annotations

from torch import nn

from fec.models.fecnet import EmbeddingHead, FECNet
from fec.models.registry import register_model
from fec.preprocessing import Preprocessing

STAGE_WIDTHS = (16, 32, 64, 128)


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


def compact_trunk(widths: tuple[int, int, int, int] = STAGE_WIDTHS) -> nn.Sequential:
    """96 px -> 48 -> 24 (two convs) -> 12 (two convs) -> 6 (two convs): widths[-1] x 6 x 6."""
    stem, low, mid, high = widths
    return nn.Sequential(
        *conv_bn_relu(3, stem, stride=2),
        *conv_bn_relu(stem, low, stride=2), *conv_bn_relu(low, low),
        nn.MaxPool2d(2),
        *conv_bn_relu(low, mid), *conv_bn_relu(mid, mid),
        nn.MaxPool2d(2),
        *conv_bn_relu(mid, high), *conv_bn_relu(high, high),
    )


@register_model("compact_cnn", Preprocessing(96))
def compact_cnn(embedding_dim: int = 16, dropout: float = 0.2) -> FECNet:
    """Plain 3x3-conv trunk at 96 px with the FECNet head: the fastest to train on CPU."""
    trunk = compact_trunk()
    return FECNet(trunk, EmbeddingHead(STAGE_WIDTHS[-1], embedding_dim, width=256, dropout=dropout))
