"""Which layers a model has and what each one outputs, for naming them with --layer."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from cnnkit.interpret.subject import Subject


def capture(model: nn.Module, layers: dict[str, nn.Module], x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Run ``model(x)`` once and return (logits, {name: that layer's output}).

    Outputs keep their autograd graph (detach them for pictures); a layer whose output
    is not a tensor (a tuple from a custom block) is skipped.
    """
    found: dict[str, Tensor] = {}
    hooks = []
    for name, module in layers.items():
        def hook(_m: nn.Module, _i: Any, out: Any, name: str = name) -> None:
            if isinstance(out, Tensor):
                found[name] = out
        hooks.append(module.register_forward_hook(hook))
    try:
        logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    return logits, found


def layer_table(subject: Subject) -> list[dict[str, Any]]:
    """Every named module with its type and output shape (without the batch) for one
    zero input; modules that a forward pass does not reach have no shape (empty list)."""
    modules = {name: m for name, m in subject.model.named_modules() if name}
    x = torch.zeros(1, *subject.input_shape, device=subject.device)
    with torch.no_grad():
        _, outputs = capture(subject.model, modules, x)
    return [
        {"name": name, "type": type(m).__name__, "output_shape": list(outputs[name].shape[1:]) if name in outputs else []}
        for name, m in modules.items()
    ]
