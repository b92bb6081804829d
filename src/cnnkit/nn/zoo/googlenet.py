"""GoogLeNet / Inception v1 (Szegedy et al., 2014, "Going deeper with convolutions").

torchvision's variant, for its ImageNet weights: batch norm after every convolution,
no auxiliary classifiers, no input transform, and 3x3 (not 5x5) convolutions in the
third Inception branch. Shapes for a 3x224x224 input:

    conv1 7x7/2 (64) -> maxpool 3/2 -> conv2 1x1 (64) -> conv3 3x3 (192) -> maxpool 3/2  192x28x28
    inception3a, 3b -> maxpool 3/2                                                        480x14x14
    inception4a..4e -> maxpool 2/2                                                        832x7x7
    inception5a, 5b                                                                       1024x7x7
    head: global avg pool -> dropout 0.2 -> FC classes

torchvision's ImageNet weights were ported from the original model, which expects
inputs scaled to [-1, 1] (mean 0.5, std 0.5 per channel); see cnnkit.nn.pretrained.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnkit.nn.base import CnnModel
from cnnkit.nn.layers.conv_bn import ConvBnReLU
from cnnkit.nn.layers.inception import Inception
from cnnkit.nn.layers.init import init_weights
from cnnkit.nn.registry import register_model
from cnnkit.nn.zoo._common import check_common, finish, pooled_head

__all__ = ["googlenet"]

# (in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj), from the paper's Table 1.
_INCEPTIONS = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


@register_model(
    "googlenet",
    description="GoogLeNet (Inception v1): nine Inception modules with 1x1 reductions (2014)",
    input_shape=(3, 224, 224),
    family="googlenet",
    torchvision_name="googlenet",
)
def googlenet(
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    dropout: float = 0.2,
    weights: str | None = None,
) -> CnnModel:
    """GoogLeNet: (N, in_channels, H, W) with H, W >= 15 -> (N, num_classes).

    ``weights``: a torchvision weights name or a local .pth/.safetensors file.
    """
    num_classes, in_channels = check_common("googlenet", num_classes, in_channels)

    def inception(key: str) -> Inception:
        return Inception(*_INCEPTIONS[key], wide_kernel=3)  # 3x3: torchvision's weights

    features = nn.Sequential(
        OrderedDict(
            conv1=ConvBnReLU(in_channels, 64, kernel_size=7, stride=2, padding=3, eps=1e-3),
            maxpool1=nn.MaxPool2d(3, stride=2, ceil_mode=True),
            conv2=ConvBnReLU(64, 64, kernel_size=1, eps=1e-3),
            conv3=ConvBnReLU(64, 192, kernel_size=3, padding=1, eps=1e-3),
            maxpool2=nn.MaxPool2d(3, stride=2, ceil_mode=True),
            inception3a=inception("3a"),
            inception3b=inception("3b"),
            maxpool3=nn.MaxPool2d(3, stride=2, ceil_mode=True),
            inception4a=inception("4a"),
            inception4b=inception("4b"),
            inception4c=inception("4c"),
            inception4d=inception("4d"),
            inception4e=inception("4e"),
            maxpool4=nn.MaxPool2d(2, stride=2, ceil_mode=True),
            inception5a=inception("5a"),
            inception5b=inception("5b"),
        )
    )
    head = pooled_head(1024, num_classes, dropout=dropout)
    model = CnnModel(features, head)
    init_weights(model)
    return finish(model, "googlenet", weights)
