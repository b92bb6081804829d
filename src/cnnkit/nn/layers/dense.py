"""DenseNet-BC building blocks (Huang et al., 2017).

A dense block feeds every layer the concatenation of all earlier outputs, so layer
i sees in_channels + i * growth_rate channels and adds ``growth_rate`` more. Each
layer is BN-ReLU-1x1 conv (bottleneck to bn_size * growth_rate) then BN-ReLU-3x3
conv. Transitions between blocks compress channels with a 1x1 conv and halve the
spatial size with 2x2 average pooling.

Submodule names follow torchvision's DenseNet so its checkpoints load directly.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DenseBlock", "DenseLayer", "Transition"]


class DenseLayer(nn.Module):
    """(N, C, H, W) -> (N, growth_rate, H, W): the NEW features only."""

    def __init__(self, in_channels: int, *, growth_rate: int, bn_size: int = 4) -> None:
        super().__init__()
        width = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, growth_rate, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # No in-place ReLU on x itself: x is kept for the concatenation. norm1 makes a copy.
        out = self.conv1(self.relu1(self.norm1(x)))
        return self.conv2(self.relu2(self.norm2(out)))


class DenseBlock(nn.Module):
    """(N, C, H, W) -> (N, C + num_layers * growth_rate, H, W)."""

    def __init__(
        self, in_channels: int, *, num_layers: int, growth_rate: int, bn_size: int = 4
    ) -> None:
        super().__init__()
        self.out_channels = in_channels + num_layers * growth_rate
        for i in range(num_layers):
            layer = DenseLayer(in_channels + i * growth_rate, growth_rate=growth_rate, bn_size=bn_size)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class Transition(nn.Sequential):
    """BN-ReLU-1x1 conv-avgpool: (N, C, H, W) -> (N, out_channels, H // 2, W // 2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
