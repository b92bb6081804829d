"""The sliding-window geometry of a layer (kernel, stride, padding, dilation) as plain numbers.

Convolutions, transposed convolutions and pooling layers all slide a window over the
spatial dimensions; :func:`geometry_of` reads that window off a module so that the
receptive-field rules (:mod:`cnnkit.analysis.receptive`) and the formula explanations
(:mod:`cnnkit.analysis.formulas`) work from one description. ``padding="same"`` is turned
into the left/right padding torch really applies (the extra pixel goes on the right).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from cnnkit.analysis import receptive
from cnnkit.analysis.receptive import Field

__all__ = ["WindowGeometry", "adaptive_field", "geometry_of", "module_field"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_MAX = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
_AVG = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.LPPool1d, nn.LPPool2d)
_ADAPTIVE = (
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)
_GLOBAL = (nn.Flatten, nn.Linear, nn.Bilinear, nn.LazyLinear)


@dataclass(frozen=True)
class WindowGeometry:
    """One window layer along each spatial dimension (tuples have one entry per dimension).

    ``kind`` is "conv", "deconv" or "pool". For "deconv", ``padding_left`` is torch's
    ``padding`` (it crops the output) and ``output_padding`` extends the right edge.
    """

    kind: str
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding_left: tuple[int, ...]
    padding_right: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int = 1
    ceil_mode: bool = False
    output_padding: tuple[int, ...] = ()

    def output_size(self, n: int, dim: int) -> int:
        """Output length along ``dim`` for an input of length ``n`` (torch's formula)."""
        k, s, d = self.kernel[dim], self.stride[dim], self.dilation[dim]
        pl, pr = self.padding_left[dim], self.padding_right[dim]
        if self.kind == "deconv":
            return (n - 1) * s - 2 * pl + d * (k - 1) + self.output_padding[dim] + 1
        span = n + pl + pr - d * (k - 1) - 1
        out = (math.ceil(span / s) if self.ceil_mode else span // s) + 1
        # ceil mode: the last window must start inside the input or the left padding
        if self.ceil_mode and (out - 1) * s >= n + pl:
            out -= 1
        return out


def _tuple(value: int | str | Sequence[int], rank: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * rank
    values = tuple(int(v) for v in value)  # type: ignore[union-attr]
    return values * rank if len(values) == 1 else values


def _padding(
    padding: int | str | Sequence[int], kernel: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    rank = len(kernel)
    if padding == "valid":
        zero = (0,) * rank
        return zero, zero
    if padding == "same":
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        left = tuple(t // 2 for t in total)
        return left, tuple(t - l for t, l in zip(total, left))
    both = _tuple(padding, rank)  # type: ignore[arg-type]
    return both, both


def geometry_of(module: nn.Module, rank: int) -> WindowGeometry | None:
    """The window geometry of a convolution or pooling module with ``rank`` spatial dims."""
    if isinstance(module, _CONV + _CONV_T):
        kernel = _tuple(module.kernel_size, rank)
        dilation = _tuple(module.dilation, rank)
        left, right = _padding(module.padding, kernel, dilation)  # type: ignore[arg-type]
        transposed = isinstance(module, _CONV_T)
        return WindowGeometry(
            kind="deconv" if transposed else "conv",
            kernel=kernel,
            stride=_tuple(module.stride, rank),
            padding_left=left,
            padding_right=right,
            dilation=dilation,
            groups=module.groups,
            output_padding=_tuple(module.output_padding, rank) if transposed else (),
        )
    kernel_size = getattr(module, "kernel_size", None)
    is_pool = isinstance(module, _MAX + _AVG) or "pool" in type(module).__name__.lower()
    if is_pool and kernel_size is not None:
        # also covers cnnkit's stochastic pooling, which has the same attributes
        kernel = _tuple(kernel_size, rank)
        stride = getattr(module, "stride", None) or kernel
        dilation = _tuple(getattr(module, "dilation", 1), rank)
        left, right = _padding(getattr(module, "padding", 0), kernel, dilation)
        return WindowGeometry(
            kind="pool",
            kernel=kernel,
            stride=_tuple(stride, rank),
            padding_left=left,
            padding_right=right,
            dilation=dilation,
            ceil_mode=bool(getattr(module, "ceil_mode", False)),
        )
    return None


def module_field(module: nn.Module, field: Field, out_spatial: tuple[int, ...]) -> Field | None:
    """The output field of a module with a known geometry, or None to use the traced ops."""
    if isinstance(module, _GLOBAL):
        return receptive.make_global(field)
    if field.is_global:
        return field
    rank = len(field.spatial)
    if isinstance(module, _ADAPTIVE):
        return adaptive_field(field, out_spatial)
    if isinstance(module, nn.Upsample):
        return receptive.resample(field, out_spatial, linear=module.mode != "nearest")
    geometry = geometry_of(module, rank)
    if geometry is None:
        return None
    rule = receptive.transposed_window if geometry.kind == "deconv" else receptive.window
    return rule(
        field,
        out_spatial,
        kernel=geometry.kernel,
        stride=geometry.stride,
        padding=geometry.padding_left,
        dilation=geometry.dilation,
    )


def adaptive_field(field: Field, out_spatial: tuple[int, ...]) -> Field:
    """Adaptive pooling: window i covers [floor(i*n/m), ceil((i+1)*n/m)) of n inputs."""
    if all(n % m == 0 for n, m in zip(field.spatial, out_spatial)):
        ratio = tuple(n // m for n, m in zip(field.spatial, out_spatial))
        return receptive.window(field, out_spatial, kernel=ratio, stride=ratio)
    return receptive.resample(field, out_spatial)
