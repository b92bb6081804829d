"""Free the layers that style transfer never runs: everything after the last feature map.

Style transfer reads feature maps (N, C, H, W) only, and :func:`~cnnkit.style.extractor.run_to_layers`
stops the forward pass once the chosen layers have produced them. A module first called
after the network's last 4-D output can therefore never influence a usable layer: its
inputs do not exist yet when the last feature map is made. For VGG19 that is the
classifier, 123.6 M of its 143.7 M parameters (472 MiB of float32) that would
otherwise sit in memory, on the GPU too, for the whole optimization.

:func:`release_head` moves those modules' parameters and buffers to the ``meta`` device,
which keeps their shapes (``cnnkit interpret layers`` and printing still work) and frees
their storage. :func:`is_released` tells the extractor to refuse such a layer by name.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["is_released", "release_head"]


def is_released(module: nn.Module) -> bool:
    """True when any parameter or buffer of ``module`` (or its children) was released."""
    return any(t.is_meta for t in chain(module.parameters(), module.buffers()))


def _holds_tensors(module: nn.Module) -> bool:
    return any(True for _ in chain(module.parameters(recurse=False), module.buffers(recurse=False)))


def release_head(
    model: nn.Module, input_shape: tuple[int, int, int], device: torch.device, *, probe_side: int = 128
) -> tuple[str, ...]:
    """Release the modules of ``model`` that run only after its last 4-D output, or never.

    One no-grad pass on zeros of ``input_shape`` (C, H, W) on ``device``, each side capped at
    ``probe_side``, records the order in which the leaf modules holding tensors are first
    called. Returns the released module names (empty when the pass fails, for instance a
    fixed-size head at the probe size: then nothing is touched). Mutates ``model``.
    """
    leaves = {name: m for name, m in model.named_modules() if _holds_tensors(m)}
    first_call: dict[str, int] = {}
    last_map = -1  # the call index of the last leaf (of any kind) that output a feature map
    calls = 0

    def record(name: str) -> Any:
        def hook(_m: nn.Module, _i: Any, out: Any) -> None:
            nonlocal calls, last_map
            if name in leaves and name not in first_call:
                first_call[name] = calls
            if isinstance(out, Tensor) and out.dim() == 4:
                last_map = calls
            calls += 1

        return hook

    hooks = [m.register_forward_hook(record(name)) for name, m in model.named_modules()
             if not any(True for _ in m.children())]  # fmt: skip
    c, h, w = input_shape
    probe = torch.zeros(1, c, min(h, probe_side), min(w, probe_side), device=device)
    try:
        with torch.no_grad():
            model(probe)
    except RuntimeError:
        return ()
    finally:
        for handle in hooks:
            handle.remove()
    if last_map < 0:
        return ()
    released = tuple(name for name in leaves if first_call.get(name, calls) > last_map)
    for name in released:
        leaves[name].to("meta")
    return released

