"""Weight initialization shared by the zoo builders.

He (Kaiming) initialization keeps activation variance roughly constant through
ReLU layers, which is what lets deep plain and residual networks start training.
"""

from __future__ import annotations

from torch import nn

__all__ = ["init_weights"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm)


def init_weights(module: nn.Module, *, linear_std: float | None = 0.01) -> None:
    """Initialize every layer inside ``module`` in place.

    Convolutions: He normal (fan_out, ReLU gain), zero bias. Norm layers: scale 1,
    shift 0. Linear layers: normal(0, ``linear_std``) and zero bias, or PyTorch's
    default uniform init when ``linear_std`` is None. Meta-device models (built only
    to count parameters or trace shapes) have no values, so they are left alone.
    """
    if any(p.is_meta for p in module.parameters()):
        return
    for layer in module.modules():
        if isinstance(layer, _CONVS):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, _NORMS):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.Linear) and linear_std is not None:
            nn.init.normal_(layer.weight, 0.0, linear_std)
            nn.init.zeros_(layer.bias)
