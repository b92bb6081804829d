"""Network in Network (Lin, Chen and Yan, 2013), the CIFAR-10 layout of the paper.

    block1: mlpconv 5x5 (192) -> 1x1 (160) -> 1x1 (96), maxpool 3/2, dropout  -> 96x16x16
    block2: mlpconv 5x5 (192) -> 1x1 (192) -> 1x1 (192), avgpool 3/2, dropout -> 192x8x8
    block3: mlpconv 3x3 (192) -> 1x1 (192) -> 1x1 (num_classes)
    global average pooling over each class map -> (N, num_classes)

There is no fully connected layer: the last 1x1 convolution makes one feature map
per class and global average pooling turns each map into that class's score. That
convolution sits in ``head`` (it is the classifier that ``reset_classifier``
replaces); the rest of block3 ends ``features``. No ReLU follows the class maps,
so scores can be negative.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnkit.nn.base import CnnModel
from cnnkit.nn.layers.init import init_weights
from cnnkit.nn.layers.mlpconv import MlpConv
from cnnkit.nn.registry import register_model
from cnnkit.nn.zoo._common import check_common, finish

__all__ = ["nin"]


@register_model(
    "nin",
    description="Network in Network: mlpconv blocks, global average pooling, no FC (2013)",
    input_shape=(3, 32, 32),
    family="nin",
)
def nin(*, num_classes: int = 10, in_channels: int = 3, dropout: float = 0.5) -> CnnModel:
    """NiN: (N, in_channels, H, W) -> (N, num_classes); 32x32 is the design size, H, W >= 11."""
    num_classes, in_channels = check_common("nin", num_classes, in_channels)
    features = nn.Sequential(
        OrderedDict(
            block1=MlpConv(in_channels, (192, 160, 96), kernel_size=5, padding=2),
            pool1=nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            drop1=nn.Dropout(p=dropout),
            block2=MlpConv(96, (192, 192, 192), kernel_size=5, padding=2),
            pool2=nn.AvgPool2d(kernel_size=3, stride=2, ceil_mode=True),
            drop2=nn.Dropout(p=dropout),
            block3=MlpConv(192, (192, 192), kernel_size=3, padding=1),
        )
    )
    head = nn.Sequential(
        OrderedDict(
            classifier=nn.Conv2d(192, num_classes, kernel_size=1),  # one map per class
            pool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
        )
    )
    model = CnnModel(features, head)
    init_weights(model)
    return finish(model, "nin")
