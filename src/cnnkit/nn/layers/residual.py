"""Residual blocks (He et al., 2016): out = relu(F(x) + shortcut(x)).

The shortcut is the identity when shape is kept, otherwise a 1x1 convolution with
stride plus batch norm (the paper's "option B" projection). Learning the residual
F(x) = H(x) - x instead of H(x) is what lets 100+ layer networks train.

Submodule names (conv1, bn1, ..., downsample) follow torchvision's ResNet so its
pretrained checkpoints load without renaming.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "Bottleneck", "projection", "residual_stage"]


def projection(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """1x1 conv + BN that maps (N, in, H, W) to (N, out, H/stride, W/stride)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convolutions. (N, in, H, W) -> (N, channels, ceil(H/stride), ceil(W/stride))."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, *, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != channels:
            self.downsample = projection(in_channels, channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (carries the stride) -> 1x1 expand to ``4 * channels``.

    (N, in, H, W) -> (N, 4 * channels, ceil(H/stride), ceil(W/stride)). Putting the
    stride on the 3x3 rather than the first 1x1 is torchvision's "ResNet v1.5".
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, *, stride: int = 1) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = projection(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


def residual_stage(
    block: type[BasicBlock] | type[Bottleneck],
    in_channels: int,
    channels: int,
    blocks: int,
    *,
    stride: int,
) -> nn.Sequential:
    """``blocks`` residual blocks; the first one carries the stride (and the projection)."""
    layers: list[nn.Module] = [block(in_channels, channels, stride=stride)]
    out_channels = channels * block.expansion
    layers += [block(out_channels, channels) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)
