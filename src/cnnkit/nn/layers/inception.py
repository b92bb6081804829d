"""The Inception module of GoogLeNet (Szegedy et al., 2014), with 1x1 reductions.

Four branches see the same input and their outputs are stacked along channels:

1. 1x1 convolution                              -> ch1x1 channels
2. 1x1 reduction to ch3x3red, then 3x3          -> ch3x3 channels
3. 1x1 reduction to ch5x5red, then a wide conv  -> ch5x5 channels
4. 3x3 max pool (stride 1), then 1x1 projection -> pool_proj channels

The 1x1 reductions are what make the module affordable: a 5x5 convolution over 192
channels costs 25 * 192 multiplications per output value, a 1x1 reduction to 16
channels first cuts that to 192 + 25 * 16.

Every branch keeps the spatial size, so (N, C, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 +
pool_proj, H, W). The paper's branch 3 uses a 5x5 kernel; torchvision's GoogLeNet
(and its pretrained weights) uses 3x3 there, so ``wide_kernel`` chooses.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnkit.nn.layers.conv_bn import ConvBnReLU

__all__ = ["Inception"]


class Inception(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, H, W); see the module docstring."""

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        *,
        wide_kernel: int = 5,
        eps: float = 1e-3,
    ) -> None:
        super().__init__()
        if wide_kernel % 2 != 1:
            raise ValueError(f"wide_kernel must be odd to keep the size, got {wide_kernel}")
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        self.branch1 = ConvBnReLU(in_channels, ch1x1, kernel_size=1, eps=eps)
        self.branch2 = nn.Sequential(
            ConvBnReLU(in_channels, ch3x3red, kernel_size=1, eps=eps),
            ConvBnReLU(ch3x3red, ch3x3, kernel_size=3, padding=1, eps=eps),
        )
        self.branch3 = nn.Sequential(
            ConvBnReLU(in_channels, ch5x5red, kernel_size=1, eps=eps),
            ConvBnReLU(ch5x5red, ch5x5, kernel_size=wide_kernel, padding=wide_kernel // 2, eps=eps),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            ConvBnReLU(in_channels, pool_proj, kernel_size=1, eps=eps),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], dim=1)
