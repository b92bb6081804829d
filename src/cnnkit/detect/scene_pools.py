"""Object pools for detection scenes: real 28x28 object images with their scene class
indices and global source ids, split into disjoint train / val / test pools.

:func:`scene_pools` gives Fashion-MNIST (labels 0..9) and, with ``digits=True``, handwritten
digits too (labels 10..19): the source files' train images less a seeded held-out part ->
train, that part -> val, the test files -> test, so no source object is in two splits
(:data:`ID_OFFSETS` makes every id global, to check that). Every pool image has an ink
crop (its pixels brighter than :data:`INK_LEVEL`), which the scenes paste.

Digits come from MNIST when it is on disk, else from scikit-learn's bundled 8x8 digits
upscaled to 28x28 (antialiased bilinear); the notes say which.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnkit.errors import DataError

__all__ = ["ID_OFFSETS", "INK_LEVEL", "SOURCE_SIDE", "ObjectPool", "scene_pools"]

INK_LEVEL = (
    24  # an object pixel brighter than this belongs to the object (mask and box)
)
SOURCE_SIDE = 28  # every pool image is 28x28 (8x8 digits are upscaled to it)
# Global source ids (offset + index in that file), so splits can be checked for shared objects.
ID_OFFSETS = {"fashion-train": 0, "fashion-test": 60_000, "mnist-train": 100_000,
              "mnist-test": 160_000, "sklearn-digits": 200_000}  # fmt: skip


@dataclass
class ObjectPool:
    """Source objects for scenes: ``images`` uint8 (M, 1, 28, 28), ``labels`` int64 (M,)
    (scene class indices), ``ids`` int64 (M,) global source ids (see :data:`ID_OFFSETS`)."""

    images: Tensor
    labels: Tensor
    ids: Tensor

    def __post_init__(self) -> None:
        if (
            self.images.dim() != 4
            or self.images.shape[1] != 1
            or self.images.dtype != torch.uint8
        ):
            raise DataError(
                f"pool images must be uint8 (M, 1, H, W), got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if not len(self.images) == len(self.labels) == len(self.ids):
            raise DataError("pool images, labels and ids must have the same length")
        ink = self.images[:, 0] > INK_LEVEL  # (M, h, w)
        if not bool(ink.flatten(1).any(1).all()):
            raise DataError(
                f"every pool image needs pixels brighter than {INK_LEVEL} (an object to crop)"
            )
        # The ink's bounding box per image, as [row0, row1) and [col0, col1): crops are taken from it.
        rows, cols = ink.any(2), ink.any(1)  # (M, h), (M, w)
        self.ink_box = torch.stack(
            [_first(rows), _last(rows), _first(cols), _last(cols)], 1
        )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def concat(self, other: ObjectPool) -> ObjectPool:
        return ObjectPool(torch.cat([self.images, other.images]), torch.cat([self.labels, other.labels]),
                          torch.cat([self.ids, other.ids]))  # fmt: skip


def _first(mask: Tensor) -> Tensor:
    return mask.to(torch.uint8).argmax(1)


def _last(mask: Tensor) -> Tensor:
    return mask.shape[1] - mask.flip(1).to(torch.uint8).argmax(1)


# --- the named pools and the three splits -------------------------------------------------


def _digit_pools(
    root: str | Path | None, val_fraction: float, seed: int
) -> tuple[list[ObjectPool], str]:
    """(train, val, test) digit pools with labels 10..19: MNIST if on disk, else sklearn's 8x8."""
    from cnnkit.data import mnist

    if mnist.locate("mnist", root) is not None:
        raw = mnist.load("mnist", root=root, download=False)
        train = ObjectPool(
            raw.train.x,
            raw.train.y + 10,
            torch.arange(len(raw.train.y)) + ID_OFFSETS["mnist-train"],
        )
        test = ObjectPool(
            raw.test.x,
            raw.test.y + 10,
            torch.arange(len(raw.test.y)) + ID_OFFSETS["mnist-test"],
        )
        note = f"digits: MNIST from {raw.source}"
    else:
        from cnnkit.data import digits

        raw = digits.load()
        x = F.interpolate(raw.train.x.float(), size=(SOURCE_SIDE, SOURCE_SIDE), mode="bilinear",
                          antialias=True, align_corners=False).round().clamp(0, 255).to(torch.uint8)  # fmt: skip
        every = ObjectPool(
            x, raw.train.y + 10, torch.arange(len(x)) + ID_OFFSETS["sklearn-digits"]
        )
        order = torch.randperm(
            len(every), generator=torch.Generator().manual_seed(1234)
        )
        n_test = round(0.2 * len(every))  # a fixed test part, whatever the seed
        test, train = _subset(every, order[:n_test]), _subset(every, order[n_test:])
        note = "digits: MNIST is not on disk, so scikit-learn's 8x8 digits upscaled to 28x28 (blurrier than MNIST)"
    train, val = _split_off(train, val_fraction, seed)
    return [train, val, test], note


def _subset(pool: ObjectPool, index: Tensor) -> ObjectPool:
    index = index.sort().values
    return ObjectPool(pool.images[index], pool.labels[index], pool.ids[index])


def _split_off(
    pool: ObjectPool, fraction: float, seed: int
) -> tuple[ObjectPool, ObjectPool]:
    """(rest, held-out ``fraction``), a seeded random split of the pool's images."""
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(fraction * len(pool)))
    return _subset(pool, order[n_val:]), _subset(pool, order[:n_val])


def scene_pools(
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    digits: bool = False,
    root: str | Path | None = None,
    download: bool = False,
) -> tuple[tuple[ObjectPool, ObjectPool, ObjectPool], tuple[str, ...], list[str]]:
    """Disjoint (train, val, test) object pools, the class names and notes.

    Fashion-MNIST train images minus a seeded ``val_fraction`` -> train; that held-out part
    -> val; the Fashion-MNIST test set -> test. With ``digits`` the same for the digits.
    """
    from cnnkit.data import mnist

    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction must be in (0, 1), got {val_fraction}")
    raw = mnist.load("fashion-mnist", root=root, download=download)
    train = ObjectPool(
        raw.train.x,
        raw.train.y,
        torch.arange(len(raw.train.y)) + ID_OFFSETS["fashion-train"],
    )
    test = ObjectPool(
        raw.test.x,
        raw.test.y,
        torch.arange(len(raw.test.y)) + ID_OFFSETS["fashion-test"],
    )
    train, val = _split_off(train, val_fraction, seed)
    pools = [train, val, test]
    classes = tuple(mnist.FASHION_CLASSES)
    note = (
        f"objects: Fashion-MNIST from {raw.source}; train scenes use its train images less a held-out "
        f"{val_fraction:.0%} (val scenes), test scenes its test images"
    )
    notes = [note]
    if digits:
        digit_pools, note = _digit_pools(root, val_fraction, seed)
        pools = [p.concat(d) for p, d in zip(pools, digit_pools)]
        classes += tuple(f"digit {d}" for d in range(10))
        notes.append(note)
    return (pools[0], pools[1], pools[2]), classes, notes
