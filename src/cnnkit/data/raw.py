"""What one source hands to :func:`cnnkit.data.sources.load_dataset` before splitting.

A source reads or makes its samples in their native shape; ``load_dataset`` then
converts them to the requested input shape, carves test (when the source has none)
and validation parts with seeds, computes mean/std and builds the :class:`Splits`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from cnnkit.data.tensordata import Kind, TensorSplit

if TYPE_CHECKING:
    from cnnkit.data.filesplit import FileSplit

__all__ = ["RawData", "split_from_numpy"]


@dataclass
class RawData:
    """Native samples of one dataset.

    ``train.x`` / ``test.x``: uint8 (N, C, H, W) images, uint8 (N, C, D, H, W) volumes or
    float32 (N, C, L) signals; labels int64 (N,). ``test`` is None when the source has
    no official test split (it is then carved from ``train`` with a fixed seed).
    A ``folder:`` set too big for memory gives :class:`~cnnkit.data.filesplit.FileSplit` parts.
    """

    name: str
    kind: Kind
    classes: tuple[str, ...]
    train: TensorSplit | FileSplit
    test: TensorSplit | FileSplit | None
    source: str
    flip_ok: bool = False
    notes: list[str] = field(default_factory=list)


def split_from_numpy(images: np.ndarray, labels: np.ndarray) -> TensorSplit:
    """(N, H, W) or (N, C, H, W) uint8 + (N,) labels -> TensorSplit with a channel axis."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    if x.dim() == 3:
        x = x.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return TensorSplit(x, y)
