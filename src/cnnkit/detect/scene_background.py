"""The cluttered background under a detection scene's objects: a brightness gradient with
soft blobs (:func:`random_backgrounds`, every scene at once) and faint tapered fragments of pool
items (:func:`paste_fragment`), so a detector cannot find objects by brightness alone."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.detect.scene_pools import SOURCE_SIDE, ObjectPool

__all__ = ["paste_fragment", "random_backgrounds"]


def random_backgrounds(n: int, h: int, w: int, g: torch.Generator, blobs: int) -> Tensor:
    """(n, h, w) float backgrounds: a base level, a linear gradient in a random direction and
    up to ``blobs`` soft Gaussian blobs; all scenes at once."""
    ys = torch.arange(h, dtype=torch.float32).view(1, h, 1) / h
    xs = torch.arange(w, dtype=torch.float32).view(1, 1, w) / w
    base = torch.rand(n, 1, 1, generator=g) * 30.0
    angle = torch.rand(n, 1, 1, generator=g) * (2 * math.pi)
    slope = torch.rand(n, 1, 1, generator=g) * 40.0  # grey levels across the canvas
    ramp = (xs - 0.5) * angle.cos() + (
        ys - 0.5
    ) * angle.sin()  # (n, h, w), about -0.7..0.7
    out = base + 20.0 + slope * ramp
    centres = torch.rand(n, blobs, 2, generator=g)  # (n, B, 2) as fractions (y, x)
    sigma = (0.06 + 0.14 * torch.rand(n, blobs, generator=g)) * min(
        h, w
    )  # (n, B) pixels
    amp = torch.rand(n, blobs, generator=g) * 70.0 - 25.0  # bright and dark blobs
    amp = amp * (
        torch.rand(n, blobs, generator=g) < 0.6
    )  # about 60 % of blob slots used
    for b in range(blobs):  # a Gaussian is separable: (n, h, 1) x (n, 1, w) per blob
        s2 = (2 * sigma[:, b] ** 2).view(n, 1, 1)
        gy = torch.exp(-((ys * h - centres[:, b, 0].view(n, 1, 1) * h) ** 2) / s2)
        gx = torch.exp(-((xs * w - centres[:, b, 1].view(n, 1, 1) * w) ** 2) / s2)
        out = out + amp[:, b].view(n, 1, 1) * gy * gx
    return out.clamp(0.0, 255.0)


def _taper(n: int) -> Tensor:
    """(n,) sin(pi * (k + 1) / (n + 1)): 1 in the middle, falling towards 0 at both ends."""
    return torch.sin(torch.arange(1, n + 1, dtype=torch.float32) * (math.pi / (n + 1)))


def paste_fragment(img: Tensor, pool: ObjectPool, index: int, r: list[float]) -> None:
    """A faint piece of a pool item (a third to two thirds of it, 0.2-0.45 of its brightness,
    resized 0.6-1.6x) blended into the background with ``max`` so it reads as texture."""
    h, w = img.shape
    side = SOURCE_SIDE
    fh, fw = int(side * (0.33 + 0.33 * r[0])), int(side * (0.33 + 0.33 * r[1]))
    top, left = int(r[2] * (side - fh)), int(r[3] * (side - fw))
    zoom = 0.6 + r[4]
    ph, pw = max(2, min(h, round(fh * zoom))), max(2, min(w, round(fw * zoom)))
    piece = pool.images[index : index + 1, :, top : top + fh, left : left + fw].float()
    piece = F.interpolate(
        piece, size=(ph, pw), mode="bilinear", antialias=True, align_corners=False
    )[0, 0]
    # A sine taper: the piece fades out towards its edges (a smudge, not a tile).
    piece = piece * (_taper(ph)[:, None] * _taper(pw)[None, :])
    y0, x0 = int(r[5] * (h - ph + 1)), int(r[6] * (w - pw + 1))
    region = img[y0 : y0 + ph, x0 : x0 + pw]
    torch.maximum(region, region + piece * (0.2 + 0.25 * r[0]) - 10.0, out=region)
