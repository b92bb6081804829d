"""Batched data augmentation on the training device: whole batches, no per-image loop.

``Augment(config)(x, generator)`` takes a NORMALIZED float batch and returns a new one
of the same shape, dtype and device:

- images (N, C, H, W): integer translation (pad + random crop), horizontal flip,
  rotation and zoom (one bilinear resampling), cutout;
- volumes (N, C, D, H, W): translation in D, H, W, flip of W, cutout;
- signals (N, C, L): translation (shift) along L, cutout.

Every pixel that comes from outside the image (translation, rotation, zoom-out) and
every cut-out square gets ``fill``: the normalized value of a black (raw 0)
pixel, i.e. the background of Fashion-MNIST and MNIST, and what zero padding means
before normalization. :meth:`AugmentConfig.for_dataset` sets it from the dataset's
mean and std.

Randomness: every random parameter (N values per operation) is drawn from
``generator`` on its own device and moved to the batch's device, so a CPU generator
works for GPU batches and the same generator state always gives the same result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import DataError

__all__ = ["Augment", "AugmentConfig", "Level", "rotate_zoom"]

Level = Literal["none", "light", "strong"]


@dataclass(frozen=True)
class AugmentConfig:
    """What to randomize; every field off (0 / False) means identity."""

    crop_padding: int = 0  # pixels: translate by a random integer in [-p, p] per axis
    flip: bool = False  # mirror the last axis (width) for a random half of the batch
    rotate: float = 0.0  # degrees: rotate by a uniform angle in [-rotate, rotate] (images only)
    scale: float = 0.0  # zoom by a uniform factor in [1 - scale, 1 + scale] (images only)
    cutout: int = 0  # pixels: blank one random square (cube, segment) of this side per sample
    fill: float | tuple[float, ...] = 0.0  # normalized value put where there is no data

    def __post_init__(self) -> None:
        if self.crop_padding < 0 or self.cutout < 0 or self.rotate < 0:
            raise DataError("augmentation sizes must be >= 0 (crop_padding and cutout in pixels, rotate in degrees)")
        if not 0.0 <= self.scale < 1.0:
            raise DataError(f"augmentation scale is a zoom range +-scale and must be in [0, 1), got {self.scale}")

    @property
    def is_identity(self) -> bool:
        return not (self.crop_padding or self.flip or self.rotate or self.scale or self.cutout)

    @classmethod
    def for_dataset(cls, info: DatasetInfo, level: Level = "light") -> AugmentConfig:
        """Sensible settings for ``info``: "none", "light" (shifts, flips when ``flip_ok``)
        or "strong" (light plus rotation, zoom and cutout for images)."""
        if level not in ("none", "light", "strong"):
            raise DataError(f"augmentation level must be none, light or strong, got {level!r}")
        fill = tuple(round(-m / s, 6) for m, s in zip(info.mean, info.std))  # raw 0 after normalizing
        if info.kind == "signal":
            fill = tuple(0.0 for _ in info.mean)  # signals are centred: 0 is the resting level
        base = cls(fill=fill)
        if level == "none":
            return base
        side = min(info.input_shape[1:])
        pad = max(1, side // 12)  # 28 -> 2, 32 -> 2, 64 -> 5, 224 -> 18
        if info.kind == "signal":
            return replace(base, crop_padding=max(1, side // 20) * (2 if level == "strong" else 1))
        light = replace(base, crop_padding=pad, flip=info.flip_ok)
        if level == "light" or info.kind == "volume":
            return light
        return replace(light, rotate=10.0, scale=0.1, cutout=side // 4 if side >= 16 else 0)


def _draw(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Uniform [0, 1) numbers drawn on the generator's device, then moved to ``device``."""
    where = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=where).to(device)


class Augment:
    """Callable batch augmentation: ``aug(x, generator) -> x'`` (see the module docstring)."""

    def __init__(self, config: AugmentConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"Augment({self.config})"

    def _fill(self, x: Tensor) -> Tensor:
        """``fill`` as (1, C, 1, ...) on x's device and dtype."""
        values = self.config.fill if isinstance(self.config.fill, tuple) else (self.config.fill,)
        if len(values) not in (1, x.shape[1]):
            raise DataError(f"augmentation fill has {len(values)} values but the batch has {x.shape[1]} channels")
        return torch.tensor(values, dtype=x.dtype, device=x.device).view(1, -1, *([1] * (x.dim() - 2)))

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        cfg = self.config
        if not x.is_floating_point() or x.dim() < 3:
            raise DataError(f"augment a normalized float batch (N, C, ...), got {x.dtype} of shape {tuple(x.shape)}")
        if cfg.is_identity:
            return x
        fill = self._fill(x)
        if cfg.crop_padding:
            x = self._translate(x, cfg.crop_padding, generator, fill)
        if cfg.flip:
            flip = _draw((x.shape[0],), generator, x.device) < 0.5
            x = torch.where(flip.view(-1, *([1] * (x.dim() - 1))), x.flip(-1), x)
        if cfg.rotate or cfg.scale:
            x = self._rotate_zoom(x, generator, fill)
        if cfg.cutout:
            x = self._cutout(x, cfg.cutout, generator, fill)
        return x

    @staticmethod
    def _translate(x: Tensor, pad: int, generator: torch.Generator | None, fill: Tensor) -> Tensor:
        """Shift each sample by integer offsets in [-pad, pad] on every spatial axis.

        Output position i reads input i + offset; positions that read outside get ``fill``.
        This equals padding by ``pad`` (with the raw background) and cropping at a random spot.
        """
        n, spatial = x.shape[0], x.shape[2:]
        offsets = (_draw((n, len(spatial)), generator, x.device) * (2 * pad + 1)).long() - pad
        if x.device.type == "cpu" and (2 * pad + 1) ** len(spatial) <= 121:
            return _shift_by_groups(x, offsets, pad, fill)
        return _shift_by_gather(x, offsets, fill)

    def _rotate_zoom(self, x: Tensor, generator: torch.Generator | None, fill: Tensor) -> Tensor:
        """Random rotation in [-rotate, rotate] degrees and zoom in [1 - scale, 1 + scale]."""
        if x.dim() != 4:
            raise DataError("rotation and zoom augmentation apply to images (N, C, H, W) only; set rotate=0 and scale=0")
        n = x.shape[0]
        angle = (_draw((n,), generator, x.device) * 2 - 1) * math.radians(self.config.rotate)
        zoom = 1 + (_draw((n,), generator, x.device) * 2 - 1) * self.config.scale
        return rotate_zoom(x, angle, zoom, fill)

    @staticmethod
    def _cutout(x: Tensor, size: int, generator: torch.Generator | None, fill: Tensor) -> Tensor:
        """Blank one square (cube / segment) of side ``size`` per sample; it may stick out of the edge."""
        n, spatial = x.shape[0], x.shape[2:]
        centres = _draw((n, len(spatial)), generator, x.device)
        mask: Tensor | None = None
        for axis, extent in enumerate(spatial):
            view = [n] + [1] * (x.dim() - 1)
            view[2 + axis] = extent
            start = (centres[:, axis : axis + 1] * extent).long() - size // 2  # (N, 1)
            pos = torch.arange(extent, device=x.device)
            inside = ((pos >= start) & (pos < start + size)).view(view)
            mask = inside if mask is None else mask & inside
        assert mask is not None
        return torch.where(mask, fill, x)


def rotate_zoom(x: Tensor, angle: Tensor, zoom: Tensor, fill: Tensor | float = 0.0) -> Tensor:
    """Rotate images (N, C, H, W) about their centre and zoom, in one bilinear resampling.

    angle (N,) in radians, positive = counter-clockwise as displayed (row 0 at the top);
    zoom (N,) > 1 enlarges the content. Pixels that come from outside get ``fill``
    (a number or a (1, C, 1, 1) tensor). angle 0 and zoom 1 return ``x`` unchanged.
    """
    _, _, height, width = x.shape
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    zero = torch.zeros_like(cos)
    # Output pixel p samples input R^-1 p / zoom, written in grid_sample's [-1, 1] units (aspect-aware).
    theta = torch.stack(
        [torch.stack([cos, -sin * height / width, zero], 1), torch.stack([sin * width / height, cos, zero], 1)], 1
    )  # (N, 2, 3)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    # Sample x - fill with zero padding, then add fill back: outside pixels become fill.
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


def _shift_by_gather(x: Tensor, offsets: Tensor, fill: Tensor) -> Tensor:
    """Integer shift by one gather per axis with a broadcast index (no host syncs: GPU friendly).

    x (N, C, *S), offsets int64 (N, len(S)) in [-pad, pad].
    """
    n, spatial = x.shape[0], x.shape[2:]
    valid: Tensor | None = None
    for axis, size in enumerate(spatial):
        view = [n] + [1] * (x.dim() - 1)
        view[2 + axis] = size
        source = torch.arange(size, device=x.device) + offsets[:, axis : axis + 1]  # (N, size)
        inside = ((source >= 0) & (source < size)).view(view)
        index = source.clamp(0, size - 1).view(view).expand(*x.shape[: 2 + axis], size, *x.shape[3 + axis :])
        x = x.gather(2 + axis, index)
        valid = inside if valid is None else valid & inside
    assert valid is not None
    return torch.where(valid, x, fill)


def _shift_by_groups(x: Tensor, offsets: Tensor, pad: int, fill: Tensor) -> Tensor:
    """The same shift as :func:`_shift_by_gather`, faster on CPU for small pads.

    Pads once with ``fill``, then copies every group of samples that share one offset
    as a single slice ((2 pad + 1)^axes groups at most).
    """
    spatial = x.shape[2:]
    padded = fill.expand(*x.shape[:2], *(s + 2 * pad for s in spatial)).clone()  # (N, C, *(S + 2 pad))
    padded[(slice(None), slice(None)) + tuple(slice(pad, pad + s) for s in spatial)] = x  # exact copy
    out = torch.empty_like(x)
    shifts = offsets + pad  # (N, axes) in [0, 2 pad]
    key = torch.zeros(x.shape[0], dtype=torch.long)
    for axis in range(len(spatial)):
        key = key * (2 * pad + 1) + shifts[:, axis]
    for value in key.unique().tolist():
        members = (key == value).nonzero().squeeze(1)
        starts = shifts[members[0]].tolist()
        window = [slice(None), slice(None)] + [slice(s, s + size) for s, size in zip(starts, spatial)]
        out[members] = padded[members][tuple(window)]
    return out
