"""Convolution -> batch norm -> ReLU, the unit most modern CNNs are built from.

The submodules are named ``conv`` and ``bn`` so that torchvision's GoogLeNet
checkpoints (whose ``BasicConv2d`` uses the same names) load without renaming.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConvBnReLU"]


class ConvBnReLU(nn.Module):
    """(N, C_in, H, W) -> (N, C_out, H', W') with H' = floor((H + 2p - k) / s) + 1.

    The convolution has no bias: the batch norm's shift replaces it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=eps)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))
