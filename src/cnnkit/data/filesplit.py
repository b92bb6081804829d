"""A split streamed from disk: image paths + labels, decoded batch by batch in DataLoader workers.

``folder:`` datasets too big for memory (see :func:`cnnkit.data.convert.max_bytes`) keep
their samples as a :class:`FileSplit` instead of a :class:`TensorSplit`. It behaves like one
where the rest of cnnkit looks (``len``, ``y``, ``to``, ``subset``, ``sample_shape``), and
:func:`cnnkit.data.loader.batches` / :func:`~cnnkit.data.loader.eval_batches` dispatch on it:
the batch order is computed exactly as for a TensorSplit (same seeded permutation, same
DDP sharding), and only the decoding -- :func:`cnnkit.data.images.load_image`, uint8
(C, H, W) per file -- happens in worker processes. Batches arrive on the CPU as uint8
(B, C, H, W) + int64 (B,), in pinned memory when the split was moved ``.to("cuda")``.

Workers: ``min(4, usable CPUs)``, never more than the epoch's batches; ``$CNNKIT_DATA_WORKERS``
overrides (0 decodes in the training process).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from cnnkit.data.images import load_image
from cnnkit.data.tensordata import TensorSplit
from cnnkit.errors import DataError

__all__ = ["MAX_WORKERS", "SKIP_BAD_HINT", "STATS_FILES", "FileSplit", "num_workers", "stream"]

MAX_WORKERS = 4
STATS_FILES = 1000  # images read to estimate mean/std of a streamed split
SKIP_BAD_HINT = "or pass --skip-bad to leave unreadable images out"  # after a reason that says what to fix


@dataclass
class FileSplit:
    """Image files ``paths`` with labels ``y`` int64 (N,), read at ``input_shape`` (C, H, W).

    ``device`` is where the training batches go; it only decides memory pinning (files stay on disk).
    """

    paths: tuple[Path, ...]
    y: Tensor
    input_shape: tuple[int, ...]
    device: torch.device = torch.device("cpu")

    def __post_init__(self) -> None:
        self.paths = tuple(Path(p) for p in self.paths)
        self.y = self.y.to("cpu", torch.int64)
        if len(self.paths) != self.y.shape[0]:
            raise ValueError(f"{len(self.paths)} files but {self.y.shape[0]} labels")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.input_shape)

    @property
    def dtype(self) -> torch.dtype:
        return torch.uint8

    def to(self, device: torch.device | str) -> FileSplit:
        return dataclasses.replace(self, device=torch.device(device))

    def subset(self, index: Tensor) -> FileSplit:
        index = index.cpu()
        return dataclasses.replace(self, paths=tuple(self.paths[i] for i in index.tolist()), y=self.y[index])

    def read(self, index: Sequence[int] | None = None) -> TensorSplit:
        """Decode the files at ``index`` (all when None) into an in-memory TensorSplit on the CPU."""
        chosen = list(range(len(self))) if index is None else [int(i) for i in index]
        x = torch.empty((len(chosen), *self.input_shape), dtype=torch.uint8)
        with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:  # Pillow decodes outside the GIL
            images = pool.map(lambda i: load_image(self.paths[i], input_shape=self.input_shape), chosen)
            try:
                for row, image in enumerate(images):
                    x[row] = image
            except DataError as err:
                raise DataError(f"{err}; {SKIP_BAD_HINT}") from None
        return TensorSplit(x, self.y[torch.tensor(chosen, dtype=torch.int64)])

    def without_unreadable(self) -> tuple[FileSplit, list[tuple[Path, str]]]:
        """This split without the files :func:`load_image` cannot read, and [(file, reason)]
        for those left out, in stored order. Decodes every file once (threads)."""

        def problem(path: Path) -> str | None:
            try:
                load_image(path, input_shape=self.input_shape)
            except DataError as err:
                return str(err).removeprefix(f"{path}: ")  # the reason; the caller names the file
            return None

        with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
            problems = list(pool.map(problem, self.paths))
        keep = [i for i, reason in enumerate(problems) if reason is None]
        bad = [(path, reason) for path, reason in zip(self.paths, problems) if reason is not None]
        return (self.subset(torch.tensor(keep, dtype=torch.int64)) if bad else self), bad

    def sample(self, count: int, *, seed: int) -> TensorSplit:
        """``count`` files chosen at random with ``seed`` (all when fewer), decoded, in stored order."""
        if count >= len(self):
            return self.read()
        picked = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:count]
        return self.read(picked.sort().values.tolist())


class _ImageFiles(torch.utils.data.Dataset):
    """Sample i -> (uint8 (C, H, W), int64 label); what a DataLoader worker runs."""

    def __init__(self, split: FileSplit) -> None:
        self.paths, self.y, self.shape = split.paths, split.y, tuple(split.input_shape)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return load_image(self.paths[i], input_shape=self.shape), self.y[i]


def num_workers() -> int:
    """DataLoader workers for streamed splits: ``$CNNKIT_DATA_WORKERS``, else min(4, usable CPUs)."""
    text = os.environ.get("CNNKIT_DATA_WORKERS", "").strip()
    if text:
        if not text.isdigit():
            raise DataError(f"$CNNKIT_DATA_WORKERS={text!r} is not a number of worker processes, e.g. 0 or 4")
        return int(text)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(MAX_WORKERS, cpus)


def stream(split: FileSplit, index_batches: list[list[int]]) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(x, y)`` for each list of sample indices, in the given order, decoded by workers."""
    if not index_batches:
        return
    workers = min(num_workers(), len(index_batches))
    loader = torch.utils.data.DataLoader(
        _ImageFiles(split),
        batch_sampler=index_batches,  # the order is ours; workers only decode
        num_workers=workers,
        pin_memory=split.device.type == "cuda",
    )
    try:
        yield from loader
    except DataError as err:
        raise DataError(f"{_worker_message(str(err))}; {SKIP_BAD_HINT}") from None


def _worker_message(text: str) -> str:
    """A worker's DataError arrives wrapped in PyTorch's multi-line report ("Caught
    DataError in DataLoader worker process 0 ... Original Traceback ..."); keep only our
    one-line message, its last line after the exception name."""
    last = text.strip().splitlines()[-1] if text.strip() else text
    marker = "DataError: "
    return last.split(marker, 1)[1] if marker in last else last
