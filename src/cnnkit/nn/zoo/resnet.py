"""ResNet-18/34/50/101 for ImageNet-sized inputs (He, Zhang, Ren and Sun, 2016).

    stem:   conv 7x7/2 (64) + BN + ReLU -> maxpool 3/2           (N, 64, H/4, W/4)
    layer1..layer4: residual stages of 64, 128, 256, 512 channels, strides 1, 2, 2, 2
            (x4 channels for the bottleneck variants 50 and 101)  (N, 512 or 2048, H/32, W/32)
    head:   global average pool -> FC classes

18 and 34 use basic blocks (two 3x3 convs), 50 and 101 bottleneck blocks with the
stride on the 3x3 conv (torchvision's "v1.5"). Shortcuts that change shape are 1x1
projections. Names match torchvision's so its ImageNet weights load. Global pooling
makes any input from 32x32 up work. For 32x32 CIFAR images see ``resnet20``.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnkit.nn.base import CnnModel
from cnnkit.nn.layers.init import init_weights
from cnnkit.nn.layers.residual import BasicBlock, Bottleneck, residual_stage
from cnnkit.nn.registry import register_model
from cnnkit.nn.zoo._common import check_common, finish, pooled_head

__all__: list[str] = []

_DEPTHS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}


def _resnet(depth: int, num_classes: int, in_channels: int, weights: str | None) -> CnnModel:
    name = f"resnet{depth}"
    num_classes, in_channels = check_common(name, num_classes, in_channels)
    block, counts = _DEPTHS[depth]
    stages: list[tuple[str, nn.Module]] = []
    channels_in = 64
    for i, (channels, count) in enumerate(zip((64, 128, 256, 512), counts)):
        stage = residual_stage(block, channels_in, channels, count, stride=1 if i == 0 else 2)
        stages.append((f"layer{i + 1}", stage))
        channels_in = channels * block.expansion
    features = nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)),
                ("bn1", nn.BatchNorm2d(64)),
                ("relu", nn.ReLU(inplace=True)),
                ("maxpool", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
                *stages,
            ]
        )
    )
    head = pooled_head(channels_in, num_classes)
    model = CnnModel(features, head)
    init_weights(model, linear_std=None)
    return finish(model, name, weights)


def _register(depth: int) -> None:
    block = "basic" if _DEPTHS[depth][0] is BasicBlock else "bottleneck"

    @register_model(
        f"resnet{depth}",
        description=f"ResNet-{depth}: {block} residual blocks in 4 stages, global pool (2016)",
        input_shape=(3, 224, 224),
        family="resnet",
        torchvision_name=f"resnet{depth}",
    )
    def builder(
        *, num_classes: int = 1000, in_channels: int = 3, weights: str | None = None
    ) -> CnnModel:
        """ResNet: (N, in_channels, H, W) with H, W >= 32 -> (N, num_classes).

        ``weights``: a torchvision weights name or a local .pth/.safetensors file.
        """
        return _resnet(depth, num_classes, in_channels, weights)

    builder.__name__ = builder.__qualname__ = f"resnet{depth}"
    globals()[builder.__name__] = builder


for _depth in _DEPTHS:
    _register(_depth)
