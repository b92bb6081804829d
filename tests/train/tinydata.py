"""Small learnable datasets made in memory for the trainer tests (nothing read from disk).

Class c of ``k`` classes is a bright 3x3 blob at a class-specific place on a noisy dark
background, so a tiny CNN learns it in a couple of epochs.
"""

from __future__ import annotations

import torch

from cnnkit.data.tensordata import DatasetInfo, Splits, TensorSplit

SMALL_CNN = "INPUT(1x8x8) -> CONV(8, k=3, p=same) -> BN -> RELU -> POOL -> CONV(16, k=3, p=same) -> RELU -> GAP -> FC"
NO_BN_CNN = "INPUT(1x8x8) -> CONV(6, k=3, p=same) -> RELU -> POOL -> FC(16) -> RELU -> FC"


def blobs(n: int, *, classes: int = 3, side: int = 8, seed: int = 0) -> TensorSplit:
    """``n`` uint8 images (n, 1, side, side) with labels int64 (n,)."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=gen)
    x = torch.randint(0, 60, (n, 1, side, side), generator=gen).float()
    for c in range(classes):
        row, col = divmod(c * 5 % (side * side // 9), side // 3)
        r, q = row * 3 % (side - 2), col * 3 % (side - 2)
        x[y == c, :, r : r + 3, q : q + 3] += 180
    jitter = torch.randint(-40, 40, x.shape, generator=gen).float()
    return TensorSplit((x + jitter).clamp(0, 255).to(torch.uint8), y)


def tiny_info(classes: int = 3, side: int = 8) -> DatasetInfo:
    return DatasetInfo(
        name="blobs",
        kind="image",
        input_shape=(1, side, side),
        classes=tuple(f"class{c}" for c in range(classes)),
        mean=(0.2,),
        std=(0.3,),
        flip_ok=False,
        source="made in a test",
    )


def tiny_splits(n_train: int = 240, n_val: int = 60, n_test: int = 60, *, classes: int = 3, seed: int = 0) -> Splits:
    return Splits(
        train=blobs(n_train, classes=classes, seed=seed),
        val=blobs(n_val, classes=classes, seed=seed + 1),
        test=blobs(n_test, classes=classes, seed=seed + 2),
        info=tiny_info(classes),
    )
