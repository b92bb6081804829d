"""Will the optimization fit in memory at this ``--size``? Checked before any image is decoded.

The cost of style transfer is the network's activations for one image, kept for the
backward pass, plus their gradients: for VGG19 about 160 MB at 256 px, growing with the
square of the size. Past the machine's memory the process is not told but killed by the
operating system (exit 137, no message), so :func:`check_fits` compares an estimate with
the memory available first and says which ``--size`` would fit.

The estimate is measured, not tabulated: one no-grad pass on a small probe sums the bytes
of every leaf module's output up to the network's last convolution, per input pixel.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from cnnkit.errors import CnnkitError
from cnnkit.style.extractor import FeatureExtractor, run_to_layers

__all__ = [
    "GIB",
    "MARGIN",
    "OVERHEAD",
    "PROBE_SIDE",
    "activation_bytes_per_pixel",
    "available_bytes",
    "check_fits",
]

PROBE_SIDE = 64
# The activations are kept for backward and get a gradient each; the measured rise of a
# 256 px VGG19 run (BENCHMARKS.md) is about 1.75x the forward activations.
OVERHEAD = 2.0
MARGIN = 0.8  # the suggested size leaves a fifth of the free memory for everything else
GIB = 2**30


def activation_bytes_per_pixel(extractor: FeatureExtractor) -> float:
    """Bytes of all leaf-module outputs up to the last convolution, per input pixel."""
    model = extractor.subject.model
    last = list(extractor.layers.aliases.values())[-1]
    total = 0

    def count(_m: nn.Module, _i: Any, out: Any) -> None:
        nonlocal total
        if isinstance(out, Tensor):
            total += out.numel() * out.element_size()

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    probe = torch.zeros(1, extractor.channels, PROBE_SIDE, PROBE_SIDE, device=extractor.device)
    try:
        with torch.no_grad():
            run_to_layers(model, {last: dict(model.named_modules())[last]}, extractor.subject.pixels_to_input(probe))
    finally:
        for handle in hooks:
            handle.remove()
    return total / (PROBE_SIDE * PROBE_SIDE)


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device``: CUDA's free memory, or Linux's MemAvailable for the CPU;
    None where it cannot be known (then nothing is checked)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits(extractor: FeatureExtractor, size: int, *, available: int | None = None) -> None:
    """CnnkitError when an image of ``size`` x ``size`` (the largest ``--size`` allows)
    would need more memory than is available, naming a size that fits. ``available``
    overrides the measured free memory (for tests)."""
    free = available_bytes(extractor.device) if available is None else available
    if free is None:
        return
    per_pixel = activation_bytes_per_pixel(extractor) * OVERHEAD
    need = per_pixel * size * size
    if need <= free:
        return
    fits = max(16, int(math.sqrt(MARGIN * free / per_pixel)) // 16 * 16)
    raise CnnkitError(
        f"--size {size} needs about {need / GIB:.1f} GiB of memory for the activations of {extractor.name}, "
        f"but {free / GIB:.1f} GiB is free on {extractor.device}; use a smaller --size (memory grows "
        f"with its square), e.g. --size {fits}"
    )
