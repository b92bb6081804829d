"""DistributedDataParallel helpers: set up from torchrun's environment, reduce, synchronise.

    torchrun --nproc-per-node 2 -m cnnkit train --data digits --out runs/ddp

torchrun starts N copies of the command and sets RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT in each. :func:`setup` joins the process group (nccl on
CUDA, gloo on the CPU); the trainer then wraps the model in DDP, gives each process
its shard of every batch, all-reduces the metrics, and lets only rank 0 write files.
Outside torchrun every helper here is a cheap no-op for a single process.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    "all_reduce_max",
    "all_reduce_sum",
    "barrier",
    "is_distributed",
    "is_main",
    "launched_by_torchrun",
    "rank",
    "setup",
    "teardown",
    "world_size",
]


def launched_by_torchrun() -> bool:
    """True when torchrun (or a compatible launcher) set a world size above 1."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_distributed() -> bool:
    """True inside an initialized process group with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Rank 0 (or the only process): the one that prints and writes files."""
    return rank() == 0


def setup(device: torch.device) -> bool:
    """Join the process group torchrun describes; returns True if this call created it.

    The backend follows the device: nccl for CUDA, gloo otherwise.
    """
    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, timeout=timedelta(minutes=10))
    return True


def teardown() -> None:
    """Leave the process group, all ranks together.

    The barrier keeps one rank from destroying the group while another still talks on
    it, and collecting garbage first frees DDP's reducer (which holds gloo work objects)
    while the group is alive: either race can abort a process at exit with "terminate
    called without an active exception".
    """
    if dist.is_available() and dist.is_initialized():
        import gc

        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum ``tensor`` over all processes, in place; returns it (unchanged for one process)."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max(tensor: Tensor) -> Tensor:
    """Maximum of ``tensor`` over all processes, in place."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def barrier() -> None:
    if is_distributed():
        dist.barrier()

