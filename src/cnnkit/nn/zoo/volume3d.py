"""cnn3d: a small 3-D CNN for volumes (CT/MRI crops, short video clips, voxel grids).

3-D convolutions slide a k x k x k filter through depth as well as height and width,
so a filter sees structure across slices. For a (N, 1, 16, 32, 32) input:

    stage1: conv 3x3x3 (16) + BN + ReLU -> maxpool 2    (N, 16, 8, 16, 16)
    stage2: conv 3x3x3 (32) + BN + ReLU -> maxpool 2    (N, 32, 4, 8, 8)
    stage3: conv 3x3x3 (64) + BN + ReLU                 (N, 64, 4, 8, 8)
    head:   global average pool -> dropout -> FC classes

Padding keeps sizes through the convolutions; any D, H, W >= 4 works.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from cnnkit.nn.base import CnnModel
from cnnkit.nn.layers.init import init_weights
from cnnkit.nn.registry import register_model
from cnnkit.nn.zoo._common import check_common, finish, pooled_head

__all__ = ["cnn3d"]


def _stage(c_in: int, c_out: int, *, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv3d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool3d(kernel_size=2))
    return nn.Sequential(*layers)


@register_model(
    "cnn3d",
    description="3-D CNN for volumes: 3 conv stages (16-32-64 filters), global pool",
    input_shape=(1, 16, 32, 32),
    family="cnn3d",
)
def cnn3d(*, num_classes: int = 2, in_channels: int = 1, dropout: float = 0.3) -> CnnModel:
    """cnn3d: (N, in_channels, D, H, W) with D, H, W >= 4 -> (N, num_classes)."""
    num_classes, in_channels = check_common("cnn3d", num_classes, in_channels)
    features = nn.Sequential(
        OrderedDict(
            stage1=_stage(in_channels, 16, pool=True),
            stage2=_stage(16, 32, pool=True),
            stage3=_stage(32, 64, pool=False),
        )
    )
    head = pooled_head(64, num_classes, rank=3, dropout=dropout)
    model = CnnModel(features, head)
    init_weights(model, linear_std=None)
    return finish(model, "cnn3d")
