"""Receptive-field arithmetic: how far into the input one unit of a layer can see.

Along each spatial dimension a feature map is described by three numbers:

- ``size``  r: how many input pixels the field of one unit spans (holes from dilation
  included, so this is the extent, not the count of pixels that matter);
- ``jump``  j: the distance in input pixels between the fields of two neighbouring units;
- ``start``: the input coordinate of the centre of the first unit's field. Input pixels are
  counted from 0 (the centre of the first pixel is 0); padding can make ``start`` negative.

The input itself is ``r = 1, j = 1, start = 0``. A window layer (convolution or pooling)
with kernel ``k``, stride ``s``, left padding ``p`` and dilation ``d`` maps::

    r_out = r_in + (k - 1) * d * j_in
    j_out = j_in * s
    start_out = start_in + ((k - 1) * d / 2 - p) * j_in

A :class:`Field` is attached to every activation tensor during a traced forward pass
(see :mod:`cnnkit.analysis.trace`). Where branches meet (a residual addition, a channel
concatenation) the fields are united. Once the spatial layout is gone (flatten, a linear
layer) the field becomes *global*: the union of the fields of every unit, with no jump.
Fields are not clipped to the input: a deep layer's field can be larger than the image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DimField",
    "Field",
    "make_global",
    "pad",
    "resample",
    "transposed_window",
    "union",
    "window",
]


@dataclass(frozen=True)
class DimField:
    """The field of the first unit along one spatial dimension (see the module docstring)."""

    size: float
    jump: float
    start: float

    @property
    def low(self) -> float:
        """Input coordinate of the first pixel in the first unit's field."""
        return self.start - (self.size - 1) / 2

    @property
    def high(self) -> float:
        return self.start + (self.size - 1) / 2


@dataclass(frozen=True)
class Field:
    """Receptive field of every unit of a tensor.

    ``spatial`` is the size of the tensor's spatial dimensions (the trailing ones, e.g.
    (H, W) of an (N, C, H, W) tensor) the field applies to; ``is_global`` means the spatial
    layout is gone (after flatten) and ``dims`` describe the union over all units.
    """

    dims: tuple[DimField, ...]
    spatial: tuple[int, ...]
    is_global: bool = False

    @staticmethod
    def of_input(spatial: Sequence[int]) -> Field:
        """The field of the network input: every unit sees exactly its own pixel."""
        return Field(tuple(DimField(1.0, 1.0, 0.0) for _ in spatial), tuple(spatial))


def _per_dim(value: int | Sequence[int], rank: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * rank
    values = tuple(int(v) for v in value)
    return values * rank if len(values) == 1 else values


def window(
    field: Field,
    out_spatial: Sequence[int],
    *,
    kernel: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
) -> Field:
    """Field after a sliding window (convolution, pooling); ``padding`` is the left padding."""
    if field.is_global:
        return field
    rank = len(field.dims)
    ks, ss = _per_dim(kernel, rank), _per_dim(stride, rank)
    ps, ds = _per_dim(padding, rank), _per_dim(dilation, rank)
    dims = tuple(
        DimField(
            size=f.size + (k - 1) * d * f.jump,
            jump=f.jump * s,
            start=f.start + ((k - 1) * d / 2 - p) * f.jump,
        )
        for f, k, s, p, d in zip(field.dims, ks, ss, ps, ds)
    )
    return Field(dims, tuple(out_spatial))


def transposed_window(
    field: Field,
    out_spatial: Sequence[int],
    *,
    kernel: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
) -> Field:
    """Field after a transposed convolution.

    Output unit o receives input unit i when ``o = i*s - p + t*d`` for a tap t < k. The
    size is the widest set of input units any output unit reaches (exact); the start is
    the average over output positions (exact only up to a fraction of the input jump).
    """
    if field.is_global:
        return field
    rank = len(field.dims)
    ks, ss = _per_dim(kernel, rank), _per_dim(stride, rank)
    ps, ds = _per_dim(padding, rank), _per_dim(dilation, rank)
    dims = []
    for f, k, s, p, d in zip(field.dims, ks, ss, ps, ds):
        widest = 0
        for o in range(s):  # which taps reach an input repeats with period s in o
            taps = [(o + p - t * d) // s for t in range(k) if (o + p - t * d) % s == 0]
            if taps:
                widest = max(widest, max(taps) - min(taps))
        dims.append(
            DimField(
                size=f.size + widest * f.jump,
                jump=f.jump / s,
                start=f.start + (p - (k - 1) * d / 2) / s * f.jump,
            )
        )
    return Field(tuple(dims), tuple(out_spatial))


def pad(field: Field, out_spatial: Sequence[int], left: Sequence[int]) -> Field:
    """Field after explicit padding: the same fields, the first unit now sits ``left`` earlier."""
    if field.is_global:
        return field
    dims = tuple(
        DimField(f.size, f.jump, f.start - p * f.jump) for f, p in zip(field.dims, left)
    )
    return Field(dims, tuple(out_spatial))


def resample(field: Field, out_spatial: Sequence[int], *, linear: bool = True) -> Field:
    """Field after a change of resolution by an op without a window (interpolation, slicing).

    An approximation: the jump scales by ``n_in / n_out``; downsampling by a factor f is
    treated like an f-wide window, upsampling adds one input unit when interpolating.
    """
    if field.is_global:
        return field
    dims = []
    for f, n_in, n_out in zip(field.dims, field.spatial, out_spatial):
        ratio = n_in / max(n_out, 1)
        if ratio >= 1:
            width = math.ceil(ratio)
            dims.append(DimField(f.size + (width - 1) * f.jump, f.jump * ratio,
                                 f.start + (width - 1) / 2 * f.jump))
        else:
            extra = f.jump if linear else 0.0
            dims.append(DimField(f.size + extra, f.jump * ratio, f.start + (ratio - 1) / 2 * f.jump))
    return Field(tuple(dims), tuple(out_spatial))


def make_global(field: Field) -> Field:
    """Union of the fields of all units (what a unit sees after flatten + linear)."""
    if field.is_global:
        return field
    dims = []
    for f, n in zip(field.dims, field.spatial):
        low, high = f.low, f.high + (n - 1) * f.jump
        dims.append(DimField(high - low + 1, 0.0, (low + high) / 2))
    return Field(tuple(dims), (), is_global=True)


def union(fields: Sequence[Field]) -> Field:
    """Field of a unit that combines the same unit of several tensors (add, concat).

    Tensors with the same spatial size are united unit by unit (their jumps are equal in
    any sensible network; the first one's jump is kept). When some are global, the result
    is global. Broadcast inputs (e.g. a squeeze-and-excitation scale of size 1x1) are left
    out when at least one input has the full size.
    """
    if len(fields) == 1:
        return fields[0]
    if any(f.is_global for f in fields):
        fields = [make_global(f) for f in fields]
    else:
        widest = max(fields, key=lambda f: math.prod(f.spatial))
        fields = [f for f in fields if f.spatial == widest.spatial]
    first = fields[0]
    dims = []
    for parts in zip(*(f.dims for f in fields)):
        low = min(p.low for p in parts)
        high = max(p.high for p in parts)
        dims.append(DimField(high - low + 1, parts[0].jump, (low + high) / 2))
    return Field(tuple(dims), first.spatial, first.is_global)
