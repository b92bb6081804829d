"""Convert stored samples to the input shape a model wants, and measure mean/std.

Images (N, C, H, W) uint8: channels 1 -> 3 repeat the grey value; 3 -> 1 take the
luma (ITU-R 601: 0.299 R + 0.587 G + 0.114 B, as Pillow's "L" mode does); sizes
change by antialiased bilinear resizing of the whole image (no cropping: a whole
dataset is already framed). Signals (N, C, L) resample L linearly and repeat a single
channel. Work is chunked so converting 70,000 images to 3x224x224 never holds a float
copy of the whole set.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.errors import DataError

__all__ = [
    "DEFAULT_MAX_GB",
    "channel_stats",
    "check_fits",
    "convert_images",
    "convert_signals",
    "max_bytes",
    "nbytes",
]

# In-memory datasets larger than this are refused with advice, or, for folder: datasets,
# streamed from disk (override: $CNNKIT_MAX_DATA_GB).
DEFAULT_MAX_GB = 8.0
_LUMA = (0.299, 0.587, 0.114)


def max_bytes() -> int:
    text = os.environ.get("CNNKIT_MAX_DATA_GB", "")
    try:
        return int(float(text) * 2**30) if text else int(DEFAULT_MAX_GB * 2**30)
    except ValueError:
        raise DataError(f"$CNNKIT_MAX_DATA_GB={text!r} is not a number of gigabytes, e.g. 8 or 0.5") from None


def nbytes(count: int, shape: tuple[int, ...], itemsize: int) -> int:
    """Bytes ``count`` samples of ``shape`` take in memory."""
    need = count * itemsize
    for s in shape:
        need *= s
    return need


def check_fits(count: int, shape: tuple[int, ...], itemsize: int, what: str) -> None:
    """Refuse a dataset whose in-memory size would pass the limit, saying how to proceed."""
    need = nbytes(count, shape, itemsize)
    limit = max_bytes()
    if need > limit:
        raise DataError(
            f"{what}: {count:,} samples of {'x'.join(map(str, shape))} need {need / 2**30:.1f} GiB in memory, "
            f"over the {limit / 2**30:.1f} GiB limit; choose a smaller input shape or fewer images, "
            "or raise the limit with $CNNKIT_MAX_DATA_GB (only folder: datasets stream from disk)"
        )


def _convert_chunk(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """uint8 (n, c, h, w) -> uint8 (n, *shape)."""
    channels, height, width = shape
    xf = x.float()
    if xf.shape[1] != channels:
        if xf.shape[1] == 1:
            xf = xf.expand(-1, channels, -1, -1)
        elif xf.shape[1] == 3 and channels == 1:
            weights = torch.tensor(_LUMA).view(1, 3, 1, 1)
            xf = (xf * weights).sum(dim=1, keepdim=True)
        else:
            raise DataError(f"cannot turn {xf.shape[1]}-channel images into {channels} channels; use 1 or 3 channels")
    if tuple(xf.shape[2:]) != (height, width):
        xf = F.interpolate(xf, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return xf.round().clamp(0, 255).to(torch.uint8)  # not in place: xf may be an expanded view


def convert_images(x: Tensor, shape: tuple[int, ...], *, chunk: int = 2048) -> Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, *shape); returns ``x`` itself when nothing changes."""
    if len(shape) != 3:
        raise DataError(f"image datasets need an input shape C x H x W, got {'x'.join(map(str, shape))}")
    if tuple(x.shape[1:]) == tuple(shape):
        return x
    check_fits(x.shape[0], shape, 1, "converting images")
    out = torch.empty((x.shape[0], *shape), dtype=torch.uint8)
    for start in range(0, x.shape[0], chunk):
        out[start : start + chunk] = _convert_chunk(x[start : start + chunk], shape)
    return out


def convert_signals(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """float32 (N, C, L) -> float32 (N, *shape): linear resampling of L, 1 -> C channel repeat."""
    if len(shape) != 2:
        raise DataError(f"signal datasets need an input shape C x L (e.g. 1x40), got {'x'.join(map(str, shape))}")
    channels, length = shape
    if x.shape[1] != channels and x.shape[1] != 1:
        raise DataError(f"cannot turn {x.shape[1]}-channel signals into {channels} channels")
    if x.shape[2] != length:
        x = F.interpolate(x, size=length, mode="linear", align_corners=False)
    if x.shape[1] != channels:
        x = x.expand(-1, channels, -1).contiguous()
    return x


def channel_stats(
    x: Tensor, scale: float, *, max_values: int = 20_000_000
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of ``x / scale`` (N, C, ...) over evenly spaced samples
    that hold at most ``max_values`` numbers (about 25,000 Fashion-MNIST images or 1,200
    default volumes: plenty for 3 decimals, and fast). Even spacing, not the first
    samples, because a folder dataset is stored class by class.

    Rounded to 4 decimals so they read well in config files; std is never below 1e-3.
    """
    per_sample = max(1, x[0].numel()) if len(x) else 1
    step = -(-len(x) // max(1, max_values // per_sample))  # ceil(N / samples allowed)
    sample = x[:: max(1, step)].double() / scale
    dims = [0] + list(range(2, sample.dim()))
    mean = sample.mean(dim=dims)
    std = sample.std(dim=dims).clamp(min=1e-3)
    return tuple(round(float(v), 4) for v in mean), tuple(round(float(v), 4) for v in std)
