"""Per-channel pixel statistics that travel with a model's weights.

A model that takes raw images (the detector, the localizer, the face embedder) keeps the
training images' per-channel ``mean`` and ``std`` (on the 0..1 scale) as buffers, so they
are saved in its state dict and moved with ``.to(device)``; :meth:`normalize` turns raw
images into the standardized input its ``forward`` expects.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["PixelStats"]


class PixelStats(nn.Module):
    """Base class: call :meth:`register_pixel_stats` in ``__init__`` (after ``super().__init__()``).

    Buffers ``mean`` and ``std``, float (C,), start at 0.5 and 0.25; a training loop
    overwrites them with its images' statistics.
    """

    mean: Tensor
    std: Tensor

    def register_pixel_stats(self, channels: int) -> None:
        self.register_buffer("mean", torch.full((channels,), 0.5))
        self.register_buffer("std", torch.full((channels,), 0.25))

    def normalize(self, images: Tensor) -> Tensor:
        """uint8 (N, C, H, W) 0..255 or float 0..1 -> float (N, C, H, W) standardized with ``mean``/``std``."""
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        return (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)
