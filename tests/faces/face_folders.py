"""Tiny identity folders and sets for the faces data tests (imported by test modules)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cnnkit.faces.identities import IdentitySet


def write_png(path: Path, value: int, size: int = 8) -> Path:
    """An 8x8 greyscale PNG whose every pixel is ``value`` (so a read-back is exact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, dtype=np.uint8), mode="L").save(path)
    return path


def make_folder(root: Path, counts: dict[str, int], *, lfw_names: bool = True) -> dict[str, list[int]]:
    """root/Name/Name_0001.png ... with ``counts[name]`` images; returns each file's pixel value.

    Values are distinct across the whole folder: 10 * identity + image number.
    """
    values: dict[str, list[int]] = {}
    for k, (name, count) in enumerate(counts.items()):
        values[name] = []
        for n in range(1, count + 1):
            file = f"{name}_{n:04d}.png" if lfw_names else f"img{chr(ord('a') + n - 1)}.png"
            write_png(root / name / file, 10 * (k + 1) + n)
            values[name].append(10 * (k + 1) + n)
    return values


def synthetic_set(counts: list[int], *, names: tuple[str, ...] | None = None, shuffle_seed: int | None = None) -> IdentitySet:
    """counts[k] images of identity k; image r is filled with r (rows < 256), shape (1, 2, 2)."""
    labels = torch.cat([torch.full((n,), k, dtype=torch.int64) for k, n in enumerate(counts)]) if counts else torch.empty(0, dtype=torch.int64)
    if shuffle_seed is not None:
        labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(shuffle_seed))]
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous()
    names = names if names is not None else tuple(f"id{k}" for k in range(len(counts)))
    return IdentitySet(images, labels, names, "synthetic")
