"""Multiply-accumulate (MAC) counts and connection counts per layer, per sample.

The standard definition, the one torchvision's published operation counts use:

- convolution: output elements * (c_in / groups) * prod(kernel)
- transposed convolution: input elements * (c_out / groups) * prod(kernel)
- linear: output elements * in_features (once per leading element, e.g. per position)
- everything else (batch norm, pooling, activations, additions) counts as 0 MACs.

``connections`` counts weighted input links into a layer's neurons: the MACs plus one
bias link per output neuron when the layer has a bias (the count the LeNet-5 paper uses:
its C1 layer has 28*28*6*(5*5+1) = 122,304 connections). Layers without a weight tensor
that mixes inputs (pooling, activations, normalisation) have 0.
"""

from __future__ import annotations

import math

from torch import nn

__all__ = ["conv_macs", "linear_macs", "module_connections", "module_macs"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def module_macs(module: nn.Module, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    """MACs of one call of ``module`` for one sample; shapes exclude the batch dimension."""
    if isinstance(module, _CONV):
        kernel = math.prod(module.kernel_size)
        return math.prod(out_shape) * (module.in_channels // module.groups) * kernel
    if isinstance(module, _CONV_T):
        kernel = math.prod(module.kernel_size)
        return math.prod(in_shape) * (module.out_channels // module.groups) * kernel
    if isinstance(module, nn.Linear):
        return math.prod(out_shape) * module.in_features
    if isinstance(module, nn.Bilinear):
        return math.prod(out_shape) * module.in1_features * module.in2_features
    return 0


def conv_macs(weight_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    """MACs of a functional convolution: weight (c_out, c_in/groups, *kernel), output without batch."""
    return math.prod(out_shape) * math.prod(weight_shape[1:])


def linear_macs(weight_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    """MACs of a functional linear layer: weight (out_features, in_features)."""
    return math.prod(out_shape) * weight_shape[-1]


def module_connections(module: nn.Module, macs: int, out_shape: tuple[int, ...]) -> int:
    """Weighted links into the neurons: one per MAC plus one bias link per output neuron."""
    if not isinstance(module, _CONV + _CONV_T + (nn.Linear, nn.Bilinear)):
        return 0
    has_bias = getattr(module, "bias", None) is not None
    return macs + (math.prod(out_shape) if has_bias else 0)
