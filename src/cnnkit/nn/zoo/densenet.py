"""DenseNet-121 (Huang, Liu, van der Maaten and Weinberger, 2017), the BC variant.

    stem: conv 7x7/2 (64) + BN + ReLU -> maxpool 3/2                  (N, 64, H/4, W/4)
    denseblock1 (6 layers)  -> transition1 (1x1 conv to half, avgpool)  (N, 128, H/8)
    denseblock2 (12 layers) -> transition2                               (N, 256, H/16)
    denseblock3 (24 layers) -> transition3                               (N, 512, H/32)
    denseblock4 (16 layers) -> BN + ReLU                                 (N, 1024, H/32)
    head: global average pool -> FC classes

Growth rate 32, bottleneck width 4 * 32 = 128, compression 0.5 (B = bottleneck,
C = compression). Names match torchvision's so its ImageNet weights load; inputs
from 32x32 up work.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnkit.nn.base import CnnModel
from cnnkit.nn.layers.dense import DenseBlock, Transition
from cnnkit.nn.layers.init import init_weights
from cnnkit.nn.registry import register_model
from cnnkit.nn.zoo._common import check_common, finish, pooled_head

__all__ = ["densenet121"]


@register_model(
    "densenet121",
    description="DenseNet-121: 4 dense blocks (6-12-24-16), growth 32, compression 0.5 (2017)",
    input_shape=(3, 224, 224),
    family="densenet",
    torchvision_name="densenet121",
)
def densenet121(
    *, num_classes: int = 1000, in_channels: int = 3, weights: str | None = None
) -> CnnModel:
    """DenseNet-121: (N, in_channels, H, W) with H, W >= 32 -> (N, num_classes).

    ``weights``: a torchvision weights name or a local .pth/.safetensors file.
    """
    num_classes, in_channels = check_common("densenet121", num_classes, in_channels)
    growth, bn_size, blocks = 32, 4, (6, 12, 24, 16)
    features = nn.Sequential(
        OrderedDict(
            conv0=nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False),
            norm0=nn.BatchNorm2d(64),
            relu0=nn.ReLU(inplace=True),
            pool0=nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
    )
    channels = 64
    for i, num_layers in enumerate(blocks, start=1):
        block = DenseBlock(channels, num_layers=num_layers, growth_rate=growth, bn_size=bn_size)
        features.add_module(f"denseblock{i}", block)
        channels = block.out_channels
        if i < len(blocks):
            features.add_module(f"transition{i}", Transition(channels, channels // 2))
            channels //= 2  # compression 0.5
    features.add_module("norm5", nn.BatchNorm2d(channels))
    features.add_module("relu5", nn.ReLU(inplace=True))
    head = pooled_head(channels, num_classes, classifier="classifier")
    model = CnnModel(features, head)
    init_weights(model, linear_std=None)
    return finish(model, "densenet121", weights)
