"""VGG (Simonyan and Zisserman, 2014): stacks of 3x3 convolutions and 2x2 max pools.

Two stacked 3x3 convolutions see a 5x5 window, three see 7x7, with fewer parameters
and more nonlinearities than one big filter. Configurations A/B/D/E are VGG11/13/16/19;
the ``_bn`` variants add batch norm after every convolution.

    features: [conv 3x3 (+BN) + ReLU]*n -> maxpool 2x2, five times (64..512 filters)
    head:     adaptive avg pool 7x7 - FC 4096 - dropout - FC 4096 - dropout - FC classes

Five 2x2 pools divide the size by 32, so inputs from 32x32 up work. Module indices
and names match torchvision's, so its ImageNet weights load.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnkit.nn.base import CnnModel
from cnnkit.nn.layers.init import init_weights
from cnnkit.nn.registry import register_model
from cnnkit.nn.zoo._common import check_common, finish

__all__ = ["vgg_features"]

# Widths of the convolutions, "M" = 2x2 max pool. Keys are the paper's column letters.
_CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
          512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}  # fmt: skip


def vgg_features(config: list[int | str], in_channels: int, batch_norm: bool) -> nn.Sequential:
    """(N, in_channels, H, W) -> (N, 512, H // 32, W // 32)."""
    layers: list[nn.Module] = []
    channels = in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        assert isinstance(item, int)
        layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        channels = item
    return nn.Sequential(*layers)


def _vgg(
    name: str, config: str, batch_norm: bool, num_classes: int, in_channels: int,
    dropout: float, weights: str | None,
) -> CnnModel:  # fmt: skip
    num_classes, in_channels = check_common(name, num_classes, in_channels)
    features = vgg_features(_CONFIGS[config], in_channels, batch_norm)
    head = nn.Sequential(
        OrderedDict(
            avgpool=nn.AdaptiveAvgPool2d((7, 7)),
            flatten=nn.Flatten(),
            classifier=nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(p=dropout),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(p=dropout),
                nn.Linear(4096, num_classes),
            ),
        )
    )
    model = CnnModel(features, head)
    init_weights(model)
    return finish(model, name, weights)


def _register(name: str, config: str, batch_norm: bool, depth: int) -> None:
    norm = " with batch norm" if batch_norm else ""

    @register_model(
        name,
        description=f"VGG{depth}{norm}: {depth - 3} 3x3 convs in 5 stages, three FC layers (2014)",
        input_shape=(3, 224, 224),
        family="vgg",
        torchvision_name=name,
    )
    def builder(
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        dropout: float = 0.5,
        weights: str | None = None,
    ) -> CnnModel:
        """VGG: (N, in_channels, H, W) with H, W >= 32 -> (N, num_classes).

        ``weights``: a torchvision weights name or a local .pth/.safetensors file.
        """
        return _vgg(name, config, batch_norm, num_classes, in_channels, dropout, weights)

    builder.__name__ = builder.__qualname__ = name
    globals()[name] = builder


for _depth, _config in ((11, "A"), (13, "B"), (16, "D"), (19, "E")):
    _register(f"vgg{_depth}", _config, False, _depth)
    _register(f"vgg{_depth}_bn", _config, True, _depth)
