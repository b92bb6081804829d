"""digits: scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download).

Pixel values 0..16 are rescaled to uint8 0..255 (v * 255 / 16, rounded). The set has
no official test split: :func:`cnnkit.data.sources.load_dataset` carves one with a
fixed seed. Upscaling (e.g. to 1x28x28) happens there, with antialiased bilinear resizing.
"""

from __future__ import annotations

import numpy as np

from cnnkit.data.raw import RawData, split_from_numpy
from cnnkit.errors import DataError

__all__ = ["CLASSES", "load"]

CLASSES = tuple(str(d) for d in range(10))


def load() -> RawData:
    """All 1,797 digits as uint8 (N, 1, 8, 8) in ``train``; ``test`` is carved later."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("the digits dataset needs scikit-learn; install it with `pip install scikit-learn`") from None
    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)  # (N, 8, 8)
    return RawData(
        name="digits",
        kind="image",
        classes=CLASSES,
        train=split_from_numpy(images, bunch.target),
        test=None,
        source="sklearn.datasets.load_digits (bundled with scikit-learn)",
        flip_ok=False,
        notes=["digits: scikit-learn's bundled 8x8 set; test split carved with a fixed seed"],
    )
