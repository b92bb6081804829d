"""Keep the content photo's colours: take only the brightness from the stylized result.

Style transfer copies a painting's palette along with its strokes. To keep the photo's own
colours (Gatys et al., "Preserving color in neural artistic style transfer", 2016, the
luminance variant), the result is split into luma Y and chroma (Cb, Cr), as JPEG does
(ITU-R 601, full range), and recombined as Y of the result with Cb, Cr of the content.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cnnkit.errors import ShapeError

__all__ = ["preserve_color", "rgb_to_ycbcr", "ycbcr_to_rgb"]

_KR, _KB = 0.299, 0.114  # ITU-R 601 luma weights of red and blue (green: 1 - KR - KB)


def rgb_to_ycbcr(pixels: Tensor) -> Tensor:
    """RGB (N, 3, H, W) in [0, 1] -> (N, 3, H, W) holding Y in [0, 1] and Cb, Cr in [-0.5, 0.5]."""
    r, g, b = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    y = _KR * r + (1 - _KR - _KB) * g + _KB * b
    cb = (b - y) / (2 * (1 - _KB))
    cr = (r - y) / (2 * (1 - _KR))
    return torch.stack([y, cb, cr], dim=1)


def ycbcr_to_rgb(ycc: Tensor) -> Tensor:
    """The inverse of :func:`rgb_to_ycbcr` (exact up to rounding; not clamped)."""
    y, cb, cr = ycc[:, 0], ycc[:, 1], ycc[:, 2]
    r = y + 2 * (1 - _KR) * cr
    b = y + 2 * (1 - _KB) * cb
    g = (y - _KR * r - _KB * b) / (1 - _KR - _KB)
    return torch.stack([r, g, b], dim=1)


def preserve_color(result: Tensor, content: Tensor) -> Tensor:
    """Luma of ``result`` with the chroma of ``content``; both RGB (N, 3, H, W) in [0, 1]
    of the same size -> RGB (N, 3, H, W) clamped to [0, 1]."""
    if result.shape != content.shape or result.dim() != 4 or result.shape[1] != 3:
        raise ShapeError(
            f"preserving colour needs two RGB images of one size, got {tuple(result.shape)} and "
            f"{tuple(content.shape)}; a grey model has no colour to keep"
        )
    mixed = rgb_to_ycbcr(content).clone()
    mixed[:, 0] = rgb_to_ycbcr(result)[:, 0]
    return ycbcr_to_rgb(mixed).clamp(0, 1)
