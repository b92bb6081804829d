"""Layer outputs by name from one forward pass: the one helper every method that reads
activations uses (feature maps, Grad-CAM, maximization, Deep Dream, style transfer).

Forward hooks rather than torchvision's ``create_feature_extractor``: FX tracing fails on
models with data-dependent control flow and costs a trace per model, while a hook reads
any module of any model; the two agree where both work (tests/nn/test_capture.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from torch import Tensor, nn


class _Stop(Exception):
    """Raised by a hook once every wanted output is in, so the rest of the network is skipped."""


def capture(
    model: nn.Module,
    layers: Mapping[str, nn.Module] | Iterable[str],
    x: Tensor,
    *,
    stop_early: bool = False,
    call: Literal["first", "last"] = "first",
) -> tuple[Any, dict[str, Tensor]]:
    """Run ``model(x)`` once and return (its output, {name: that layer's output}).

    ``layers``: {name: module}, or names from ``model.named_modules()`` (KeyError for an
    unknown one; callers resolve user names first with ``cnnkit.names``). Activations keep
    their autograd graph (detach them for pictures); a module whose output is not a tensor
    (a tuple from a custom block) is left out, so a layer the pass never reaches is simply
    missing from the dict.

    ``call``: for a module run more than once in a pass (ResNet's shared ReLU), the output
    of its first or its last call. ``stop_early``: end the pass as soon as every layer has
    an output, so later layers never run (a head that needs a fixed input size, or one
    released to the meta device); the model's output is then None. Stopping needs
    ``call="first"``: the last call is known only at the end.
    """
    if stop_early and call != "first":
        raise ValueError("stop_early needs call='first'")
    if not isinstance(layers, Mapping):
        modules = dict(model.named_modules())
        layers = {name: modules[name] for name in dict.fromkeys(layers)}
    wanted = len(layers)
    found: dict[str, Tensor] = {}

    def record(name: str) -> Any:
        def hook(_m: nn.Module, _i: Any, out: Any) -> None:
            if not isinstance(out, Tensor) or (call == "first" and name in found):
                return
            found[name] = out
            if stop_early and len(found) == wanted:
                raise _Stop

        return hook

    handles = [module.register_forward_hook(record(name)) for name, module in layers.items()]
    try:
        output = model(x)
    except _Stop:
        output = None
    finally:
        for handle in handles:
            handle.remove()
    return output, found


__all__ = ["capture"]
