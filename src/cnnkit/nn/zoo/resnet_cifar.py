"""ResNet-20 for small images (He et al., 2016, section 4.2, the CIFAR-10 network).

    conv 3x3 (16) + BN + ReLU                         (N, 16, H, W)
    stage1: 3 basic blocks, 16 channels               (N, 16, H, W)
    stage2: 3 basic blocks, 32 channels, stride 2     (N, 32, H/2, W/2)
    stage3: 3 basic blocks, 64 channels, stride 2     (N, 64, H/4, W/4)
    head:   global average pool -> FC classes

6n + 2 = 20 weighted layers with n = 3; about 0.27M parameters for 10 classes.
Shortcut choice: the paper's CIFAR model uses option A (identity with zero-padded
extra channels, no parameters); cnnkit uses option B (a 1x1 convolution projection
with batch norm where the shape changes) so that every block is the same residual
block as the ImageNet ResNets. This adds 2 projections (about 2.8K parameters).
Works on 3x32x32 (CIFAR) and 1x28x28 (MNIST) inputs alike.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnkit.nn.base import CnnModel
from cnnkit.nn.layers.init import init_weights
from cnnkit.nn.layers.residual import BasicBlock, residual_stage
from cnnkit.nn.registry import register_model
from cnnkit.nn.zoo._common import check_common, finish, pooled_head

__all__ = ["resnet20"]


@register_model(
    "resnet20",
    description="ResNet-20 for 32x32 images: 3 stages of 3 basic blocks, 16-32-64 filters (2016)",
    input_shape=(3, 32, 32),
    family="resnet",
)
def resnet20(*, num_classes: int = 10, in_channels: int = 3) -> CnnModel:
    """ResNet-20: (N, in_channels, H, W) -> (N, num_classes), for H, W around 28-32."""
    num_classes, in_channels = check_common("resnet20", num_classes, in_channels)
    features = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(in_channels, 16, 3, padding=1, bias=False),
            bn1=nn.BatchNorm2d(16),
            relu=nn.ReLU(inplace=True),
            layer1=residual_stage(BasicBlock, 16, 16, 3, stride=1),
            layer2=residual_stage(BasicBlock, 16, 32, 3, stride=2),
            layer3=residual_stage(BasicBlock, 32, 64, 3, stride=2),
        )
    )
    head = pooled_head(64, num_classes)
    model = CnnModel(features, head)
    init_weights(model, linear_std=None)
    return finish(model, "resnet20")
