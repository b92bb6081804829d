"""Regularizers for gradient ascent on an image (activation maximization, Deep Dream).

Plain gradient ascent on the pixels finds high-frequency patterns that excite a neuron
but mean nothing to a person. These pieces push the result towards natural images:

- :func:`random_shift` + :func:`roll` (or :func:`roll_each`, a shift per image): jitter
  the image a few pixels each step, so the optimum must excite the unit wherever it
  lands (no pixel-exact noise);
- :func:`gaussian_blur`: smooth the image every few steps (kills high frequencies);
- :func:`total_variation`: penalize differences between neighbouring pixels;
- :func:`l2_penalty`: keep pixels near a background value (few, strong strokes);
- :func:`centre_penalty`: keep the mass near the centre, where datasets put objects.

Every function takes pixels as float (N, C, H, W) and is differentiable.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.errors import CnnkitError

__all__ = [
    "centre_penalty",
    "centre_weights",
    "gaussian_blur",
    "gaussian_kernel1d",
    "l2_penalty",
    "random_shift",
    "roll",
    "roll_each",
    "total_variation",
]


def random_shift(max_shift: int, *, generator: torch.Generator | None = None) -> tuple[int, int]:
    """A random (dy, dx), each uniform in -max_shift..max_shift (drawn from ``generator``)."""
    if max_shift <= 0:
        return 0, 0
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
    return int(dy), int(dx)


def roll(x: Tensor, dy: int, dx: int) -> Tensor:
    """Shift (N, C, H, W) by (dy, dx) pixels with wrap-around; ``roll(roll(x, a, b), -a, -b) == x``."""
    if dy == 0 and dx == 0:
        return x
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def roll_each(x: Tensor, shifts: Tensor) -> Tensor:
    """Shift each image of (N, C, H, W) by its own (dy, dx) = ``shifts[i]`` ((N, 2) integers),
    with wrap-around: image i equals ``roll(x[i:i+1], dy, dx)``; differentiable."""
    n, c, h, w = x.shape
    shifts = shifts.to(x.device)
    rows = (torch.arange(h, device=x.device)[None, :] - shifts[:, :1]) % h  # (N, H): source row of each row
    cols = (torch.arange(w, device=x.device)[None, :] - shifts[:, 1:]) % w
    images = torch.arange(n, device=x.device)[:, None, None, None]
    channels = torch.arange(c, device=x.device)[None, :, None, None]
    return x[images, channels, rows[:, None, :, None], cols[:, None, None, :]]


def gaussian_kernel1d(sigma: float, *, kernel_size: int | None = None, device: torch.device | None = None) -> Tensor:
    """Normalized 1-D Gaussian weights; default size 2 * ceil(3 * sigma) + 1 (odd)."""
    if sigma <= 0:
        raise CnnkitError(f"blur sigma must be positive, got {sigma}; use 0 steps of blur to switch it off")
    size = kernel_size if kernel_size is not None else 2 * math.ceil(3 * sigma) + 1
    half = (size - 1) * 0.5
    positions = torch.linspace(-half, half, size, device=device)
    weights = torch.exp(-0.5 * (positions / sigma) ** 2)
    return weights / weights.sum()


def gaussian_blur(x: Tensor, sigma: float, *, kernel_size: int | None = None) -> Tensor:
    """Blur (N, C, H, W) with a separable Gaussian, reflect padding, each channel apart.

    Same result as ``torchvision.transforms.functional.gaussian_blur(x, kernel_size, sigma)``
    (tests check), but differentiable and with the kernel size chosen from sigma. The
    kernel is clipped to fit the image (reflect padding needs pad < side).
    """
    n, c, h, w = x.shape
    size = kernel_size if kernel_size is not None else 2 * math.ceil(3 * sigma) + 1
    size = min(size, 2 * (min(h, w) - 1) - 1) if min(h, w) > 1 else 1
    if size <= 1:
        return x
    kernel = gaussian_kernel1d(sigma, kernel_size=size, device=x.device).to(x.dtype)
    pad = size // 2
    flat = x.reshape(n * c, 1, h, w)
    flat = F.pad(flat, (pad, pad, pad, pad), mode="reflect")
    flat = F.conv2d(flat, kernel.view(1, 1, 1, size))
    flat = F.conv2d(flat, kernel.view(1, 1, size, 1))
    return flat.reshape(n, c, h, w)


def total_variation(x: Tensor, *, power: float = 1.0) -> Tensor:
    """Per image (N,): mean over pixels of |x[i+1,j] - x[i,j]|^p + |x[i,j+1] - x[i,j]|^p.

    The mean (each direction over its own H-1 or W-1 differences, summed over the two
    directions, averaged over channels) keeps the weight independent of image size.
    ``power`` 1 is the anisotropic TV (flat regions with sharp edges), 2 the smoother one.
    """
    down = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().pow(power)
    right = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().pow(power)
    return down.flatten(1).mean(1) + right.flatten(1).mean(1)


def l2_penalty(x: Tensor, *, centre: float | Tensor = 0.0) -> Tensor:
    """Per image (N,): mean squared distance of the pixels from ``centre`` (a value or (1, C, 1, 1))."""
    return (x - centre).pow(2).flatten(1).mean(1)


def centre_weights(height: int, width: int, *, device: torch.device | None = None) -> Tensor:
    """(H, W) squared distance from the image centre, scaled so the corners are 1."""
    ys = torch.linspace(-1.0, 1.0, height, device=device).view(-1, 1)
    xs = torch.linspace(-1.0, 1.0, width, device=device).view(1, -1)
    return (ys**2 + xs**2) / 2.0


def centre_penalty(x: Tensor, *, background: float | Tensor = 0.0) -> Tensor:
    """Per image (N,): mean of |pixel - background| weighted by the squared distance from
    the centre (0 at the centre, 1 at the corners): ink far out costs more."""
    weights = centre_weights(x.shape[2], x.shape[3], device=x.device).to(x.dtype)
    return ((x - background).abs() * weights).flatten(1).mean(1)
