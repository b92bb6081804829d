"""LeNet-5 (LeCun et al., 1998, "Gradient-based learning applied to document recognition").

Layout, for a 1x32x32 input (sizes follow floor((n - f) / s) + 1):

    conv1 5x5, 6 filters   -> 6x28x28
    pool1 2x2, stride 2    -> 6x14x14
    conv2 5x5, 16 filters  -> 16x10x10
    pool2 2x2, stride 2    -> 16x5x5
    flatten                -> 400
    fc1 -> 120, fc2 -> 84, fc3 -> num_classes

Parameters follow (f * f * c_in + 1) * c_out for a convolution and
inputs * outputs + outputs for a fully connected layer: with a 3-channel input conv1
has (5*5*3 + 1) * 6 = 456, conv2 (5*5*6 + 1) * 16 = 2,416 and fc1 400*120 + 120 = 48,120.

``variant="modern"`` (default) uses ReLU and max pooling. ``variant="original"`` uses
tanh and average pooling as in 1998; it does not reproduce the paper's partial C3
connection table, trainable subsampling coefficients or RBF output layer.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnkit.errors import ModelError
from cnnkit.nn.base import CnnModel
from cnnkit.nn.registry import register_model
from cnnkit.nn.zoo._common import check_common, finish

__all__ = ["lenet5"]

_VARIANTS = ("modern", "original")


def _map_side(size: int) -> int:
    """Side of pool2's output for an input side ``size`` (0 or less: the input is too small)."""
    side = (size - 4) // 2  # conv1 (5x5, no padding) then 2x2 pooling
    return (side - 4) // 2 if side >= 5 else 0  # conv2 then pooling


@register_model(
    "lenet5",
    description="LeNet-5: two 5x5 conv + pool stages, FC 120-84-classes (1998)",
    input_shape=(1, 32, 32),
    family="lenet",
)
def lenet5(
    *,
    num_classes: int = 10,
    in_channels: int = 1,
    input_size: int | tuple[int, int] = 32,
    variant: str = "modern",
) -> CnnModel:
    """LeNet-5 for (N, in_channels, H, W) images -> (N, num_classes) logits.

    ``input_size`` is H (or (H, W)); it fixes the width of the flatten -> fc1 step.
    Any side of 16 or more works: 32 -> 5x5 maps (400 features), 28 -> 4x4 (256).
    """
    num_classes, in_channels = check_common("lenet5", num_classes, in_channels)
    if variant not in _VARIANTS:
        raise ModelError(f"lenet5: variant must be one of {', '.join(_VARIANTS)}, got {variant!r}")
    sides = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if len(sides) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) for s in sides):
        raise ModelError(f"lenet5: input_size must be an int or (height, width), got {input_size!r}")
    maps = [_map_side(s) for s in sides]
    if min(maps) < 1:
        raise ModelError(
            f"lenet5: input_size {input_size!r} is too small: two 5x5 convs and two 2x2 pools "
            "leave no feature map; use a side of at least 16 (e.g. input_size=32)"
        )
    act: type[nn.Module] = nn.ReLU if variant == "modern" else nn.Tanh
    pool: type[nn.Module] = nn.MaxPool2d if variant == "modern" else nn.AvgPool2d
    features = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(in_channels, 6, kernel_size=5),
            act1=act(),
            pool1=pool(kernel_size=2, stride=2),
            conv2=nn.Conv2d(6, 16, kernel_size=5),
            act2=act(),
            pool2=pool(kernel_size=2, stride=2),
        )
    )
    head = nn.Sequential(
        OrderedDict(
            flatten=nn.Flatten(),
            fc1=nn.Linear(16 * maps[0] * maps[1], 120),
            act3=act(),
            fc2=nn.Linear(120, 84),
            act4=act(),
            fc3=nn.Linear(84, num_classes),
        )
    )
    return finish(CnnModel(features, head), "lenet5")
