"""The mlpconv block of Network in Network (Lin et al., 2013).

A kxk convolution followed by 1x1 convolutions, each with a ReLU: a small
multilayer perceptron slid over every position, so each output value is a
nonlinear function of a kxk patch rather than a linear filter response.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["MlpConv"]


class MlpConv(nn.Sequential):
    """(N, in, H, W) -> (N, channels[-1], H', W') with H' = H + 2 * padding - kernel_size + 1.

    ``channels[0]`` is the width of the kxk convolution, the rest are the widths of
    the 1x1 convolutions that follow it. Every convolution is followed by a ReLU.
    """

    def __init__(
        self, in_channels: int, channels: Sequence[int], *, kernel_size: int, padding: int = 0
    ) -> None:
        if not channels:
            raise ValueError("an mlpconv block needs at least one convolution")
        layers: list[nn.Module] = []
        widths = [in_channels, *channels]
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
            k, p = (kernel_size, padding) if i == 0 else (1, 0)
            layers += [nn.Conv2d(c_in, c_out, k, padding=p), nn.ReLU(inplace=True)]
        super().__init__(*layers)
