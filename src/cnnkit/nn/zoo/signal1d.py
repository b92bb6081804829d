"""cnn1d: a small 1-D CNN for MNIST-1D (Greydanus, 2020) and other short signals.

MNIST-1D signals are 40 samples long, one channel: each is a digit template that has
been padded, randomly shifted, sheared and noised. Because the digit's position is
random, the network ends in global average pooling (translation-invariant) rather
than a position-bound flatten. For a (N, 1, 40) input:

    stage1: conv k5 (32) + BN + ReLU, conv k3 (32) + BN + ReLU, maxpool 2   (N, 32, 20)
    stage2: conv k3 (64) + BN + ReLU, conv k3 (64) + BN + ReLU, maxpool 2   (N, 64, 10)
    stage3: conv k3 (128) + BN + ReLU                                       (N, 128, 10)
    head:   global average pool -> dropout -> FC classes

Padding keeps the length through every convolution, so any length >= 4 works.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnkit.nn.base import CnnModel
from cnnkit.nn.layers.init import init_weights
from cnnkit.nn.registry import register_model
from cnnkit.nn.zoo._common import check_common, finish, pooled_head

__all__ = ["cnn1d"]


def _conv(c_in: int, c_out: int, k: int) -> list[nn.Module]:
    return [nn.Conv1d(c_in, c_out, k, padding=k // 2, bias=False), nn.BatchNorm1d(c_out), nn.ReLU(inplace=True)]


@register_model(
    "cnn1d",
    description="1-D CNN for MNIST-1D signals: 5 convs in 3 stages, global pool",
    input_shape=(1, 40),
    family="cnn1d",
)
def cnn1d(*, num_classes: int = 10, in_channels: int = 1, dropout: float = 0.2) -> CnnModel:
    """cnn1d: (N, in_channels, L) with L >= 4 -> (N, num_classes)."""
    num_classes, in_channels = check_common("cnn1d", num_classes, in_channels)
    features = nn.Sequential(
        OrderedDict(
            stage1=nn.Sequential(*_conv(in_channels, 32, 5), *_conv(32, 32, 3), nn.MaxPool1d(2)),
            stage2=nn.Sequential(*_conv(32, 64, 3), *_conv(64, 64, 3), nn.MaxPool1d(2)),
            stage3=nn.Sequential(*_conv(64, 128, 3)),
        )
    )
    head = pooled_head(128, num_classes, rank=1, dropout=dropout)
    model = CnnModel(features, head)
    init_weights(model, linear_std=None)
    return finish(model, "cnn1d")
