"""QuickNet: cnnkit's default network, built to train fast on small images on a CPU.

    stage k (k = 1, 2, 3), widths w = (24, 48, 96) by default:
        conv 3x3 (w_k) -> max pool 2x2 -> BN -> ReLU      (N, w_k, H/2^k, W/2^k)
        conv 3x3 (w_k) -> BN -> ReLU                      (same size)
    head: global max pool -> FC classes

The order conv -> pool -> BN -> ReLU (as in airbench's CIFAR-10 nets) pools before the
normalisation and activation. Max pooling commutes with ReLU, so this is nearly the
classic conv -> BN -> ReLU -> pool block, but BN and ReLU touch four times fewer
values. On a CPU those element-wise layers, not the convolutions, dominate a small
net's training step (BN forward and backward took 45% of the step before the change),
so this ordering pays for the second convolution of each stage. About 0.16M parameters
at the default widths; works on any input of 8x8 pixels or more (the global pool).
Convolutions keep PyTorch's default initialisation, with which the fast preset was tuned.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnkit.errors import ModelError
from cnnkit.nn.base import CnnModel
from cnnkit.nn.registry import register_model
from cnnkit.nn.zoo._common import check_common, finish

__all__ = ["quicknet", "quicknet_wide"]


def _stage(c_in: int, width: int) -> nn.Sequential:
    """(N, c_in, H, W) -> (N, width, H/2, W/2)."""
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(c_in, width, 3, padding=1, bias=False),
            pool=nn.MaxPool2d(2),
            bn1=nn.BatchNorm2d(width),
            relu1=nn.ReLU(inplace=True),
            conv2=nn.Conv2d(width, width, 3, padding=1, bias=False),
            bn2=nn.BatchNorm2d(width),
            relu2=nn.ReLU(inplace=True),
        )
    )


@register_model(
    "quicknet",
    description="cnnkit's default: 3 stages of conv-pool-BN-ReLU + conv-BN-ReLU, 24-48-96 filters, fast on CPU",
    input_shape=(1, 28, 28),
    family="quicknet",
)
def quicknet(
    *, num_classes: int = 10, in_channels: int = 1, widths: tuple[int, ...] = (24, 48, 96)
) -> CnnModel:
    """QuickNet: (N, in_channels, H, W) -> (N, num_classes), for H, W >= 2^len(widths)."""
    num_classes, in_channels = check_common("quicknet", num_classes, in_channels)
    widths = tuple(widths)
    if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ModelError(f"quicknet: widths must be positive integers, got {widths!r}; e.g. widths=(24, 48, 96)")
    stages: list[tuple[str, nn.Module]] = []
    channels = in_channels
    for k, width in enumerate(widths, start=1):
        stages.append((f"stage{k}", _stage(channels, width)))
        channels = width
    features = nn.Sequential(OrderedDict(stages))
    head = nn.Sequential(
        OrderedDict(pool=nn.AdaptiveMaxPool2d(1), flatten=nn.Flatten(), fc=nn.Linear(channels, num_classes))
    )
    return finish(CnnModel(features, head), "quicknet")


@register_model(
    "quicknet_wide",
    description="QuickNet at 64-128-256 filters (1.1M parameters): the best preset's model",
    input_shape=(1, 28, 28),
    family="quicknet",
)
def quicknet_wide(*, num_classes: int = 10, in_channels: int = 1) -> CnnModel:
    """QuickNet with widths (64, 128, 256): more capacity for longer runs."""
    model = quicknet(num_classes=num_classes, in_channels=in_channels, widths=(64, 128, 256))
    return finish(model, "quicknet_wide")
