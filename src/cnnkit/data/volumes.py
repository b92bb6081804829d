"""volumes: a generated 3-D classification set (sphere, cube, cylinder, torus).

Each sample is one solid in a (1, D, H, W) uint8 volume (default 1x16x32x32, the size
``cnn3d`` expects) at a random position, size and 3-D orientation, with a random
brightness, soft edges and Gaussian noise. Everything is made with one seeded
``torch.Generator`` in batched tensor operations (a few thousand volumes in about a
second), so the same seed always gives the same volumes and nothing is downloaded.

Shapes are defined by signed distance functions in voxel units (negative inside):

    sphere    |p| - r
    cube      max(|px|, |py|, |pz|) - 0.8 r
    cylinder  max(sqrt(px^2 + py^2) - 0.6 r, |pz| - 0.9 r)
    torus     sqrt((sqrt(px^2 + py^2) - 0.7 r)^2 + pz^2) - 0.3 r
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cnnkit.data.raw import RawData
from cnnkit.data.tensordata import TensorSplit
from cnnkit.errors import DataError

__all__ = ["CLASSES", "DEFAULT_SHAPE", "NUM_TEST", "NUM_TRAIN", "SEED", "generate", "load"]

CLASSES = ("sphere", "cube", "cylinder", "torus")
DEFAULT_SHAPE = (1, 16, 32, 32)
NUM_TRAIN, NUM_TEST = 4000, 1000
SEED = 20240607  # fixed: the dataset is the same for every run, like a downloaded one

# Farthest point of each solid from its centre, in units of r (keeps it inside the volume).
_EXTENT = torch.tensor([1.0, 0.8 * math.sqrt(3.0), math.hypot(0.6, 0.9), 1.0])


def _random_rotations(n: int, generator: torch.Generator) -> Tensor:
    """(n, 3, 3) rotation matrices, uniform over orientations (from unit quaternions)."""
    q = torch.randn(n, 4, generator=generator)
    w, x, y, z = (q / q.norm(dim=1, keepdim=True)).unbind(1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ],
        dim=1,
    ).view(n, 3, 3)  # fmt: skip


def _signed_distance(p: Tensor, label: int, r: Tensor) -> Tensor:
    """p (n, V, 3) local coordinates of solids of class ``label``, r (n, 1) -> distances (n, V)."""
    px, py, pz = p.unbind(-1)
    if label == 0:  # sphere
        return p.norm(dim=-1) - r
    if label == 1:  # cube
        return p.abs().amax(dim=-1) - 0.8 * r
    radial = torch.sqrt(px * px + py * py)
    if label == 2:  # cylinder
        return torch.maximum(radial - 0.6 * r, pz.abs() - 0.9 * r)
    return torch.sqrt((radial - 0.7 * r) ** 2 + pz * pz) - 0.3 * r  # torus


def generate(n: int, *, shape: tuple[int, ...] = DEFAULT_SHAPE, seed: int = SEED, chunk: int = 64) -> TensorSplit:
    """``n`` volumes uint8 (n, C, D, H, W) with balanced labels int64 (n,), deterministic in ``seed``.

    Channels beyond the first repeat it (a greyscale volume).
    """
    if len(shape) != 4 or min(shape[1:]) < 8 or shape[0] < 1:
        raise DataError(f"volumes need an input shape C x D x H x W with D, H, W >= 8, got {'x'.join(map(str, shape))}")
    channels, depth, height, width = shape
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(CLASSES)
    labels = labels[torch.randperm(n, generator=gen)]
    sizes = torch.tensor([depth, height, width], dtype=torch.float32)
    axes = [torch.arange(s, dtype=torch.float32) - (s - 1) / 2 for s in (depth, height, width)]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).view(1, -1, 3)  # (1, V, 3) as (z, y, x)
    out = torch.empty(n, 1, depth, height, width, dtype=torch.uint8)
    smallest = float(sizes.min())
    for start in range(0, n, chunk):
        lab = labels[start : start + chunk]
        m = lab.shape[0]
        r = smallest * (0.18 + 0.12 * torch.rand(m, 1, generator=gen))  # 3 to 5 voxels at D = 16
        room = (sizes / 2 - _EXTENT[lab].view(m, 1) * r - 1).clamp(min=0)  # (m, 3)
        centre = (torch.rand(m, 3, generator=gen) * 2 - 1) * room
        rot = _random_rotations(m, gen)
        local = (grid - centre.view(m, 1, 3)) @ rot  # (m, V, 3): rotate into the solid's frame
        sdf = torch.empty(local.shape[:2])
        for k in range(len(CLASSES)):  # each solid's formula only on its own samples
            mask = lab == k
            if mask.any():
                sdf[mask] = _signed_distance(local[mask], k, r[mask])
        brightness = 0.55 + 0.45 * torch.rand(m, 1, generator=gen)
        noise = 0.04 + 0.06 * torch.rand(m, 1, generator=gen)
        value = torch.sigmoid(-sdf / 0.5) * brightness + noise * torch.randn(sdf.shape, generator=gen)
        out[start : start + m] = (value.clamp(0, 1) * 255).round().to(torch.uint8).view(m, 1, depth, height, width)
    if channels > 1:
        out = out.expand(n, channels, depth, height, width).contiguous()
    return TensorSplit(out, labels.to(torch.int64))


def load(*, input_shape: tuple[int, ...] | None = None) -> RawData:
    """4,000 train and 1,000 test volumes of ``input_shape`` (default 1x16x32x32)."""
    shape = tuple(input_shape) if input_shape is not None else DEFAULT_SHAPE
    both = generate(NUM_TRAIN + NUM_TEST, shape=shape)
    train = both.subset(torch.arange(NUM_TRAIN))
    test = both.subset(torch.arange(NUM_TRAIN, NUM_TRAIN + NUM_TEST))
    return RawData(
        name="volumes",
        kind="volume",
        classes=CLASSES,
        train=train,
        test=test,
        source=f"generated by cnnkit.data.volumes (seed {SEED})",
        flip_ok=True,  # the four solids are mirror-symmetric: a flip keeps the label
        notes=[f"volumes generated at {'x'.join(map(str, shape))}"],
    )
