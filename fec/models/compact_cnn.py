"""compact_cnn: a plain 3x3-convolution trunk at 64 px with a grid head, the model that trains fastest on a CPU.

MobileNetV3-small has fewer multiply-adds, but its depthwise convolutions, squeeze-excitation and
hard-swish run far from a CPU's peak, above all in the backward pass; dense 3x3 convolutions with
batch norm and ReLU run near it. On the project's 2-core machine a training step of 32 triplets
(96 faces) costs about a third of MobileNetV3-small's at 112 px, and the network starts learning
from the first hundred steps (see benchmarks/README.md).

The head keeps a 4 x 4 grid of the last feature map instead of pooling it to one vector: an
expression is *where* things are (mouth corners, brows, eyelids), and a trunk this small learns it
much faster when the FC layer sees position (GridEmbeddingHead).
"""

from __future__ import annotations

from torch import nn

from fec.models.fecnet import FECNet, GridEmbeddingHead
from fec.models.registry import register_model
from fec.preprocessing import Preprocessing

STAGE_WIDTHS = (16, 32, 64, 128)


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


def compact_trunk(widths: tuple[int, int, int, int] = STAGE_WIDTHS) -> nn.Sequential:
    """64 px -> 32 -> 16 (two convs) -> 8 (two convs) -> 4 (two convs): widths[-1] x 4 x 4."""
    stem, low, mid, high = widths
    return nn.Sequential(
        *conv_bn_relu(3, stem, stride=2),
        *conv_bn_relu(stem, low, stride=2), *conv_bn_relu(low, low),
        nn.MaxPool2d(2),
        *conv_bn_relu(low, mid), *conv_bn_relu(mid, mid),
        nn.MaxPool2d(2),
        *conv_bn_relu(mid, high), *conv_bn_relu(high, high),
    )


@register_model("compact_cnn", Preprocessing(64))
def compact_cnn(embedding_dim: int = 16, dropout: float = 0.2) -> FECNet:
    """Plain 3x3-conv trunk at 64 px with a 4x4 grid head: the fastest to train on CPU."""
    head = GridEmbeddingHead(STAGE_WIDTHS[-1], embedding_dim, grid=4, channels=32, width=256, dropout=dropout)
    return FECNet(compact_trunk(), head)
