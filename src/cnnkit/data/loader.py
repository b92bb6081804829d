"""Batches sliced from in-memory tensors: no DataLoader, no workers, no per-sample Python.

``batches(split, batch_size=512, shuffle=True, generator=g)`` yields ``(x, y)`` pairs
taken straight from ``split.x`` / ``split.y`` on whatever device they live (the GPU
when training there), in the order of one seeded permutation per call (= per epoch).

Distributed training: ``shard=(rank, world)`` gives each process its part of the same
permutation. Every rank must pass a generator in the same state so the permutations
agree. The permutation is cut to a multiple of ``world`` (the few samples past it are
left out of that epoch, a different few each epoch), then rank r takes positions
r, r + world, r + 2 world ...: the parts are disjoint and equally sized, so every rank
runs the same number of steps.

A :class:`~cnnkit.data.filesplit.FileSplit` (a ``folder:`` set streamed from disk) gets
batches in exactly the same order; they are decoded by DataLoader workers and arrive on
the CPU (pinned when the split was moved to a CUDA device).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from cnnkit.data.filesplit import FileSplit, stream
from cnnkit.data.tensordata import TensorSplit
from cnnkit.errors import DataError

__all__ = ["batches", "epoch_order", "eval_batches", "num_batches", "shard_size"]


def _check(batch_size: int, shard: tuple[int, int]) -> None:
    if batch_size < 1:
        raise DataError(f"batch_size must be at least 1, got {batch_size}")
    rank, world = shard
    if world < 1 or not 0 <= rank < world:
        raise DataError(f"shard must be (rank, world) with 0 <= rank < world, got {shard}")


def shard_size(n: int, shard: tuple[int, int] = (0, 1)) -> int:
    """Samples one rank sees per epoch: ``n // world`` (all ``n`` when world is 1)."""
    return n // shard[1]


def num_batches(n: int, batch_size: int, drop_last: bool = False, shard: tuple[int, int] = (0, 1)) -> int:
    """Batches :func:`batches` yields for a split of ``n`` samples."""
    _check(batch_size, shard)
    per_rank = shard_size(n, shard)
    return per_rank // batch_size if drop_last else math.ceil(per_rank / batch_size)


def epoch_order(
    n: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    shard: tuple[int, int] = (0, 1),
    device: torch.device | str = "cpu",
) -> Tensor | None:
    """Indices (int64, on ``device``) this rank visits this epoch, or None for 0..n-1 in order."""
    rank, world = shard
    if not shuffle and world == 1:
        return None  # plain slices, no index tensor (views, no copies)
    if shuffle:
        gen_device = generator.device if generator is not None else torch.device("cpu")
        order = torch.randperm(n, generator=generator, device=gen_device)
    else:
        order = torch.arange(n)
    order = order[: shard_size(n, shard) * world][rank::world]
    return order.to(device)


def batches(
    split: TensorSplit | FileSplit,
    *,
    batch_size: int,
    shuffle: bool,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    shard: tuple[int, int] = (0, 1),
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(x, y)`` batches: x (B, C, ...) in the storage dtype, y int64 (B,).

    shuffle: visit samples in a random permutation drawn from ``generator`` (one draw
      per call, so call once per epoch); otherwise in stored order.
    drop_last: skip a final batch smaller than ``batch_size`` (keeps batch-norm statistics
      and compiled shapes steady).
    shard: (rank, world) for distributed training; see the module docstring.
    """
    _check(batch_size, shard)
    n = len(split)
    streamed = isinstance(split, FileSplit)
    order = epoch_order(n, shuffle=shuffle, generator=generator, shard=shard, device="cpu" if streamed else split.x.device)
    total = n if order is None else order.shape[0]
    stop = (total // batch_size) * batch_size if drop_last else total
    if streamed:
        index = torch.arange(n) if order is None else order
        yield from stream(split, [index[s : min(s + batch_size, stop)].tolist() for s in range(0, stop, batch_size)])
        return
    for start in range(0, stop, batch_size):
        end = min(start + batch_size, stop)
        if order is None:
            yield split.x[start:end], split.y[start:end]
        else:
            index = order[start:end]
            yield split.x.index_select(0, index), split.y.index_select(0, index)


def eval_batches(
    split: TensorSplit | FileSplit, *, batch_size: int, shard: tuple[int, int] = (0, 1)
) -> Iterator[tuple[Tensor, Tensor]]:
    """Every ``world``-th sample from ``rank`` in stored order, none left out (evaluation)."""
    _check(batch_size, shard)
    rank, world = shard
    if isinstance(split, FileSplit):
        index = list(range(rank, len(split), world))
        yield from stream(split, [index[s : s + batch_size] for s in range(0, len(index), batch_size)])
        return
    x_all, y_all = split.x[rank::world], split.y[rank::world]
    for begin in range(0, len(y_all), batch_size):
        yield x_all[begin : begin + batch_size], y_all[begin : begin + batch_size]
