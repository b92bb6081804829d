"""Measure a receptive field the slow, sure way: by the gradient of one output unit.

With all convolution weights set to 1, biases to 0, max pooling swapped for average
pooling of the same geometry (the field is the same, but every pixel gets gradient) and
a positive input, nothing can cancel: an input pixel has a non-zero gradient exactly when
it lies in the unit's field (holes of dilation aside). The extent of those pixels is the
field's size and its centre the field's centre.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

_MAX_TO_AVG = {nn.MaxPool1d: nn.AvgPool1d, nn.MaxPool2d: nn.AvgPool2d, nn.MaxPool3d: nn.AvgPool3d}
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def positive_copy(net: nn.Module) -> nn.Module:
    """A float64 copy with unit weights, zero biases and average instead of max pooling."""
    net = copy.deepcopy(net).double().eval()
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            swap = _MAX_TO_AVG.get(type(child))
            if swap is not None:
                assert child.dilation in (1, (1,), (1, 1), (1, 1, 1)), "avg pooling has no dilation"
                setattr(module, name, swap(child.kernel_size, child.stride, child.padding, ceil_mode=child.ceil_mode))
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, _CONVS):
                module.weight.fill_(1.0)
                if module.bias is not None:
                    module.bias.zero_()
            for p in module.parameters(recurse=False):
                if p.dim() >= 2:  # weights a forward passes to F.conv2d itself
                    p.fill_(1.0)
    return net


def measured_extent(
    net: nn.Module, input_shape: tuple[int, ...], unit: tuple[int, ...]
) -> list[tuple[int, int]]:
    """(first, last) input index with non-zero gradient, per spatial dim, for output ``unit``.

    ``net`` must already be a :func:`positive_copy`; its output is (1, C, *spatial).
    """
    x = (torch.rand((1, *input_shape), dtype=torch.float64) + 0.5).requires_grad_(True)
    y = net(x)
    y[(0, slice(None), *unit)].sum().backward()
    assert x.grad is not None
    hot = x.grad[0].abs().sum(0) > 0
    extents = []
    for dim in range(hot.dim()):
        other = tuple(d for d in range(hot.dim()) if d != dim)
        line = hot.any(dim=other) if other else hot
        where = torch.nonzero(line).flatten()
        extents.append((int(where.min()), int(where.max())))
    return extents


def predicted_extent(field: object, unit: tuple[int, ...]) -> list[tuple[float, float]]:
    """(first, last) input index of ``unit``'s field from a receptive.Field."""
    out = []
    for d, i in zip(field.dims, unit):  # type: ignore[attr-defined]
        centre = d.start + i * d.jump
        out.append((centre - (d.size - 1) / 2, centre + (d.size - 1) / 2))
    return out


def inside(extent: list[tuple[float, float]], spatial: tuple[int, ...]) -> bool:
    return all(lo >= 0 and hi <= n - 1 for (lo, hi), n in zip(extent, spatial))
