"""Which layers a model has and what each one outputs, for naming them with --layer."""

from __future__ import annotations

from typing import Any

import torch

from cnnkit.interpret.subject import Subject
from cnnkit.nn.capture import capture

__all__ = ["layer_table"]


def layer_table(subject: Subject) -> list[dict[str, Any]]:
    """Every named module with its type and output shape (without the batch) for one
    zero input; modules that a forward pass does not reach have no shape (empty list)."""
    modules = {name: m for name, m in subject.model.named_modules() if name}
    x = torch.zeros(1, *subject.input_shape, device=subject.device)
    with torch.no_grad():
        # a module run twice (a shared ReLU) shows the shape of its last call
        _, outputs = capture(subject.model, modules, x, call="last")
    return [
        {"name": name, "type": type(m).__name__, "output_shape": list(outputs[name].shape[1:]) if name in outputs else []}
        for name, m in modules.items()
    ]
