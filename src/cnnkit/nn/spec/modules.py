"""Turn one planned :class:`~cnnkit.nn.spec.planner.Step` into a torch module.

The planner has already checked every size, so this file only maps kinds to torch
classes of the right rank (1-D signals, 2-D images, 3-D volumes).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from cnnkit.nn.spec.planner import Step

__all__ = ["make_module"]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_DECONV = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_MAXPOOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
_AVGPOOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
_GAP = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
_GMP = {1: nn.AdaptiveMaxPool1d, 2: nn.AdaptiveMaxPool2d, 3: nn.AdaptiveMaxPool3d}


def _stochastic(step: Step) -> nn.Module:
    # Imported here: the layer lives in its own module and may still be a stub.
    from cnnkit.nn.layers import stochastic_pool

    a = step.args
    cls = getattr(stochastic_pool, f"StochasticPool{a['dim']}d")
    return cls(a["kernel"], stride=a["stride"], padding=a["padding"])  # NotImplementedError while a stub: see builder


def _pool(step: Step) -> nn.Module:
    a = step.args
    if a["global"]:
        return (_GAP if a["type"] == "avg" else _GMP)[a["dim"]](1)
    if a["type"] == "stochastic":
        return _stochastic(step)
    table = _MAXPOOL if a["type"] == "max" else _AVGPOOL
    return table[a["dim"]](a["kernel"], stride=a["stride"], padding=a["padding"])


def _simple(step: Step) -> nn.Module:
    a: dict[str, Any] = step.args
    kind = step.kind
    if kind == "RELU":
        return nn.ReLU()
    if kind == "LEAKYRELU":
        return nn.LeakyReLU(a["slope"])
    if kind == "ELU":
        return nn.ELU(a["alpha"])
    if kind == "SELU":
        return nn.SELU()
    if kind == "GELU":
        return nn.GELU()
    if kind == "SILU":
        return nn.SiLU()
    if kind == "SIGMOID":
        return nn.Sigmoid()
    if kind == "TANH":
        return nn.Tanh()
    if kind == "SOFTMAX":
        return nn.Softmax(dim=1)  # over classes (or channels of a feature map)
    if kind == "DROPOUT":
        return nn.Dropout(a["p"])
    if kind == "FLATTEN":
        return nn.Flatten()
    raise AssertionError(f"no module for kind {kind}")  # planner and this file disagree


def make_module(step: Step) -> nn.Module:
    """The torch module for one planned step."""
    a = step.args
    if step.kind == "CONV":
        return _CONV[a["dim"]](
            a["in"], a["out"], a["kernel"], stride=a["stride"], padding=a["padding"],
            dilation=a["dilation"], groups=a["groups"], bias=a["bias"], padding_mode=a["padding_mode"],
        )  # fmt: skip
    if step.kind == "DECONV":
        return _DECONV[a["dim"]](
            a["in"], a["out"], a["kernel"], stride=a["stride"], padding=a["padding"],
            output_padding=a["output_padding"], groups=a["groups"], bias=a["bias"], dilation=a["dilation"],
        )  # fmt: skip
    if step.kind == "POOL":
        return _pool(step)
    if step.kind == "BN":
        return _BN[a["dim"]](a["channels"])
    if step.kind == "FC":
        return nn.Linear(a["in"], a["out"], bias=a["bias"])
    return _simple(step)
