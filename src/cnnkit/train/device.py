"""Where to train and how: device choice, bf16 autocast and channels_last decisions.

``auto`` picks CUDA, then Apple's MPS, then the CPU. Under ``torchrun`` each process takes
the GPU of its ``LOCAL_RANK``.

bf16 autocast (``amp="auto"``) is on where it is fast: on CUDA GPUs that support bf16, and
on CPUs with AMX or AVX512-BF16 units (Sapphire Rapids and later), where oneDNN runs bf16
convolutions roughly twice as fast as fp32 (measured on this project's 2-core build
machine: 1059 vs 512 img/s NCHW, 2076 vs 1432 img/s channels_last, for the default
model at batch 256). Weights, optimizer state and the loss stay fp32.

channels_last (``auto``) is on for 2-D models on every device: cuDNN and oneDNN both
prefer NHWC convolutions (the same measurement: 1432 vs 512 img/s in fp32 on the CPU).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from cnnkit.errors import CnnkitError

__all__ = [
    "THREADS_PER_CORE",
    "Runtime",
    "bf16_supported",
    "check_threads",
    "choose_device",
    "cpu_has_fast_bf16",
    "max_threads",
    "resolve_runtime",
    "small_work_threads",
    "torch_threads",
]

THREADS_PER_CORE = 4  # --threads above this many per core only slows down (or exhausts libgomp)


@dataclass(frozen=True)
class Runtime:
    """The resolved runtime choices for one run."""

    device: torch.device
    amp_dtype: torch.dtype | None  # torch.bfloat16 when autocasting, else None
    channels_last: bool

    @property
    def autocast_device(self) -> str:
        return self.device.type

    def autocast(self) -> torch.autocast:
        """A context that runs the forward pass in bf16 when enabled (a no-op otherwise)."""
        return torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.bfloat16, enabled=self.amp_dtype is not None
        )

    def describe(self) -> str:
        parts = [str(self.device)]
        if self.amp_dtype is not None:
            parts.append("bf16 autocast")
        if self.channels_last:
            parts.append("channels_last")
        return ", ".join(parts)


def choose_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda (this process's LOCAL_RANK under torchrun), mps, else cpu.

    An explicit device that is not available is an error that says what is.
    """
    kind = name.split(":")[0]
    if name == "auto":
        if torch.cuda.is_available():
            kind = "cuda"
        elif _mps_available():
            kind = "mps"
        else:
            kind = "cpu"
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise CnnkitError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
        if ":" in name:
            return torch.device(name)
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if kind == "mps":
        if not _mps_available():
            raise CnnkitError("--device mps was asked for but MPS is not available; use --device cpu or auto")
        return torch.device("mps")
    if kind == "cpu":
        return torch.device("cpu")
    raise CnnkitError(f"unknown device {name!r}; use auto, cpu, cuda or mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has AMX tiles or AVX512-BF16 instructions."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    for probe in probes:
        check = getattr(torch.cpu, probe, None)
        if check is not None:
            try:
                if check():
                    return True
            except RuntimeError:
                pass
    return False


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast is both available and worth it on ``device``."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_has_fast_bf16()
    return False  # MPS bf16 autocast is incomplete in torch 2.x


def resolve_runtime(device: str, amp: str, channels_last: str, *, spatial_dims: int) -> Runtime:
    """Turn the config's device/amp/channels_last words into concrete choices.

    ``spatial_dims`` is 2 for images (N, C, H, W), 1 for signals, 3 for volumes;
    channels_last applies to images only.
    """
    dev = choose_device(device)
    if amp == "bf16":
        if dev.type not in ("cuda", "cpu"):
            raise CnnkitError(f"--amp bf16 is not supported on {dev.type}; use --amp off")
        dtype: torch.dtype | None = torch.bfloat16
    elif amp == "auto":
        dtype = torch.bfloat16 if bf16_supported(dev) else None
    else:
        dtype = None
    use_cl = spatial_dims == 2 and channels_last in ("auto", "on")
    return Runtime(device=dev, amp_dtype=dtype, channels_last=use_cl)


def max_threads() -> int:
    """The largest ``--threads`` accepted: :data:`THREADS_PER_CORE` per core of this machine."""
    return THREADS_PER_CORE * (os.cpu_count() or 1)


def check_threads(threads: int | None) -> None:
    """CnnkitError unless ``threads`` is None or 0 (every core) .. :func:`max_threads`: torch
    segfaults or libgomp runs out of memory on a huge count. Call it before the work that
    :func:`torch_threads` then wraps."""
    from cnnkit.numbers import check_range

    if threads is not None:
        check_range("--threads", threads, 0, max_threads(), integer=True)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads (None or 0: leave as is), then restore."""
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def small_work_threads(pixels_per_step: int) -> Iterator[None]:
    """One CPU thread while a step touches few pixels (under 1M), restored afterwards.

    Tiny batches gain little from a second thread, and on a busy 2-core machine the threads'
    waits for each other made `fool --class all` 4 to 30 times slower (measured).
    """
    previous = torch.get_num_threads()
    if pixels_per_step < 1_000_000 and previous > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
